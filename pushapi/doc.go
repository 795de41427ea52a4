// Package pushapi is a client of the push service's Server API: the
// /push.json request model and its validation, request signing, data-center
// hosts with fail-over, typed errors classified into tagcast's outcome
// classes, and the user tag APIs.
//
// The pieces:
//   - Request (and its parts) is the /push.json body with the service's exact
//     JSON names; Request.Validate, SetUserTagsRequest.Validate,
//     BatchSetUserTagsRequest.Validate and ValidateGetUserTags enforce every
//     documented rule and report all problems at once as a *ValidationError
//     of FieldErrors (JSON path, rule, service code). The emulator calls the
//     same functions, so client and stand-in agree; for /push.json it calls
//     Request.ValidateFields, the same rules but the size of the encoded
//     body, and applies MaxBodyBytes to the body it received.
//     Request.Encode is the body as sent, JSON without HTML escaping.
//   - Sign computes the Signature header; Secret keeps App Secrets out of
//     logs, errors and dumps.
//   - Client (one per App Key, any number per process) sends calls with a
//     context and an overall per-call deadline, fails over between a data
//     center's hosts, and bounds connection reuse as the service advises. It
//     makes at most one fail-over hop per call, only when the first host did
//     not take the request (nothing written, or a 503 without a service
//     code: a second push call must not count twice against the quota; the
//     tag APIs, idempotent, hop after any 5xx or network failure), and never
//     retries otherwise. With a HostBoard, the clients of an app in several
//     processes share the active host.
//   - Every Client error is an *Error; Classify maps any result to an Outcome
//     (sent, retry, rate_limited, failed, unknown) for the worker, and
//     (*Error).NotSent tells the quota guard a reservation can be released.
//
// It imports nothing of tagcast and only the standard library, so it can be
// used on its own. It never logs, and never returns or prints an App Secret.
package pushapi
