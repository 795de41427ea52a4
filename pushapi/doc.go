// Package pushapi is a client of the push service's Server API: the
// /push.json request model and its validation, request signing, data-center
// hosts with fail-over, typed errors classified into tagcast's outcome
// classes, and the user tag APIs.
//
// It imports nothing of tagcast and only the standard library, so it can be
// used on its own. It never logs or returns an App Secret.
package pushapi
