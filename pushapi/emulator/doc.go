// Package emulator is a faithful local stand-in for the push service's Server
// API: /push.json and the user tag APIs, with the service's signature check,
// validation rules (pushapi's own, so client and emulator never disagree),
// per-App-Key quota windows, "service not enabled" answers, audience
// resolution, and injectable faults (latency, 500/1000, 504/1050, a stalled
// then dropped connection, a connection reset). The demo, the tests and the
// benchmarks of tagcast run against it; users can run it in their own CI with
// `tagcast emulator`.
//
// All state is in memory. Time comes from an injectable clock that tests and
// the control API can set or advance, so hours and days of quota windows pass
// in microseconds; randomness (fault draws) is seeded so runs repeat.
//
// # Order of checks on a Server API call
//
//  1. method: anything but POST is 405;
//  2. auth: App-Key (or RC-App-Key) missing or unknown → 401/1001; Nonce,
//     Timestamp or Signature missing, a Nonce over 18 characters (what the
//     docs say; Config.MaxNonceLen 19 accepts the 19 digits the official SDKs
//     send), a Timestamp (seconds or milliseconds) outside the freshness
//     window, or a Signature other than the lowercase hex digest → 401/1004;
//     then, signed right, an app Locked (locked or deleted) → 401/1006 or
//     Restricted (method or IP restriction) → 401/1007;
//  3. body: empty → 400/1003; larger than 1 MiB (pushapi.MaxBodyBytes,
//     measured on the bytes received, the only place it applies) →
//     400/1005; a Content-Type other than the endpoint's (application/json
//     for /push.json and the tag set endpoints,
//     application/x-www-form-urlencoded for /user/tags/get.json; parameters
//     such as charset are allowed) → 400/1002 naming the Content-Type and
//     the one expected;
//  4. faults (when configured for the app, or globally): latency, then one
//     seeded draw that may answer 500/1000 or 504/1050, reset the connection,
//     or stall and drop it (with the push recorded as sent, or not); none
//     for a /push.json call beyond the quota (the 430 ledger's, while not
//     enabled): the service's rate limit stands in front of the rest of it,
//     so such a call is answered 429/1008 (5 or 7) and counted as one;
//  5. /push.json only: service not enabled → 430/1009 while the app's
//     not-enabled calls fit in its quota windows, 429/1008 beyond (see below);
//  6. validation with pushapi's per-field rules (Request.ValidateFields,
//     which does not re-encode the body; plus: audience.is_to_all must be
//     present, which a Go bool cannot tell) → 400 with the first problem's
//     code (1002, or 1005 for a value too long) and an errorMessage naming
//     every field;
//  7. /push.json only: quota (both windows must have room) → 429/1008;
//  8. success: 200 {"code":200,"id":...,"messageUID":...}; the push is
//     recorded with its resolved recipients and effective notifications.
//
// # Service not enabled
//
// The service's page says a non-enabled app gets 1009 first and 429/1008 when
// it calls "beyond the rate limit". The emulator keeps, per app, a separate
// ledger of calls made while not enabled, with the app's own quota settings:
// a call that fits in that ledger's windows is answered 430/1009 (and
// counted in it), a call that does not is answered 429/1008. With the default
// quota (2 an hour, 3 a day) the calls answer 430, 430, 429, ... These calls
// never use the real quota, so enabling the app later starts with a full one.
//
// # Quota
//
// Only accepted pushes count. Hour window "rolling": a push at 10:00:00 holds
// its slot until 11:00:00 exclusive; "clock": the local clock hour in the
// app's time zone. Day window "calendar": local midnight to midnight in the
// time zone; "rolling": 24 hours.
//
// # Audience
//
// is_to_all: every user of the app. Else userid (when set): exactly those
// ids, deduplicated, in request order, whether known or not. Else the users
// that hold every tag of `tag`, at least one tag of `tag_or` (when set), and
// whose package name equals `packageName` (when set); no condition at all
// selects nobody. Tag-selected recipients are sorted by user id. Platforms do
// not filter recipients; the effective notification is recorded per platform
// of the request (a platform without its own alert gets notification.alert).
//
// # Clock
//
// Quota windows, the batch tag rate limit and the Timestamp freshness check
// all use the emulator's clock (WithClock, SetNow, Advance, RunFrom, or POST
// /_emulator/clock, which keeps it in years 1 to 9998: the inspection API
// writes instants in RFC 3339). A client talking to an emulator whose clock
// was moved must sign with the same clock (pushapi.ClientConfig.Now =
// em.Now), or the freshness check must be disabled (Config.Freshness < 0).
// Injected latency and stalls are real time: they simulate the network.
//
// The emulator never logs, returns or dumps an App Secret.
package emulator
