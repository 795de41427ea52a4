// Package admin is tagcast's operator interface over HTTP: a JSON API to
// create, list, show, pause, resume, cancel and retry campaigns, to read each
// app's quota, and to set and read user tags through the push service; plus
// /healthz, /readyz, /metrics and the asynq monitoring UI mounted read-only
// under /monitoring/. api/openapi.yaml describes every endpoint, schema and
// error shape. Client is the Go client the command line uses.
//
// Everything but /healthz needs a bearer token (compared in constant time
// against every configured token). Request bodies are capped (1 MiB by
// default). Errors are JSON: {"error": ..., "problems": [{"path", "rule"}]}
// for invalid input (400), 404 for a missing campaign or run, 409 for a
// refused status change, 502 with the service's code when the push service
// refused a tag call (429, with Retry-After, when it was its rate limit).
//
// The package consumes small interfaces (CampaignStore, Operations,
// QuotaReader, TagService, Pinger) so the real store, scheduler operations,
// quota guard and pushapi clients plug in, and tests can wire them too. It
// never logs a token, an Authorization header or an App Secret, and it reads
// the time only from the injected clock.
package admin
