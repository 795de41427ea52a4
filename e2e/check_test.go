//go:build e2e

package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
)

// runRow and sendRow are the store's runs and sends as the checks see them.
type runRow struct {
	ID, CampaignID int64
	ScheduledFor   time.Time
	Status         string
}

type sendRow struct {
	ID, RunID, CampaignID int64
	Idx, Attempts         int
	App, Status, Key      string
	MessageUID, PushID    string
	LastCode              int
	LastMessage           string
	ClaimedBy             string
	// Alert, UserIDs and Audience are read from the stored body: the
	// campaign and fire it is for, the chunk of a user-id audience (its
	// Audience.UserID), and the whole audience.
	Alert    string
	UserIDs  []string
	Audience pushapi.Audience
	// Body is the stored body itself, what every call of the send must
	// carry (nil in hand-made records: not compared).
	Body *pushapi.Request
}

func (s sendRow) String() string {
	return fmt.Sprintf("send %d (campaign %d run %d chunk %d, %q): %s after %d attempts, code %d %q",
		s.ID, s.CampaignID, s.RunID, s.Idx, s.Key, s.Status, s.Attempts, s.LastCode, s.LastMessage)
}

func (c *cluster) loadRuns(ctx context.Context) ([]runRow, []sendRow, error) {
	db := c.store.DB()
	rows, err := db.QueryContext(ctx, `SELECT id, campaign_id, scheduled_for, status FROM runs ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	var runs []runRow
	for rows.Next() {
		var r runRow
		if err := rows.Scan(&r.ID, &r.CampaignID, &r.ScheduledFor, &r.Status); err != nil {
			_ = rows.Close()
			return nil, nil, err
		}
		r.ScheduledFor = r.ScheduledFor.UTC()
		runs = append(runs, r)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	rows, err = db.QueryContext(ctx, `SELECT id, run_id, campaign_id, idx, attempts, app, status, body, message_uid, push_id, last_code, last_message,
		claimed_by FROM sends ORDER BY id`)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = rows.Close() }()
	var sends []sendRow
	for rows.Next() {
		var s sendRow
		var body []byte
		if err := rows.Scan(&s.ID, &s.RunID, &s.CampaignID, &s.Idx, &s.Attempts, &s.App, &s.Status, &body, &s.MessageUID, &s.PushID, &s.LastCode, &s.LastMessage, &s.ClaimedBy); err != nil {
			return nil, nil, err
		}
		var req pushapi.Request
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, nil, fmt.Errorf("send %d: body: %w", s.ID, err)
		}
		s.Key = sendKey(req)
		if req.Notification != nil {
			s.Alert = req.Notification.Alert
		}
		s.UserIDs, s.Audience, s.Body = req.Audience.UserID, req.Audience, &req
		sends = append(sends, s)
	}
	return runs, sends, rows.Err()
}

// problems collects check failures, each a sentence saying what was lost,
// duplicated or exceeded.
type problems struct{ list []string }

func (p *problems) add(format string, a ...any) { p.list = append(p.list, fmt.Sprintf(format, a...)) }

// String shows at most 40 problems, then a count of the rest.
func (p *problems) String() string {
	shown := p.list
	if len(shown) > 40 {
		shown = shown[:40]
	}
	s := strings.Join(shown, "\n")
	if len(p.list) > len(shown) {
		s += fmt.Sprintf("\n... and %d more", len(p.list)-len(shown))
	}
	return s
}

// checkClaimants: every send that was attempted names the worker process
// (host:pid) that made its last claim.
func checkClaimants(p *problems, sends []sendRow) {
	for _, s := range sends {
		if s.Attempts == 0 {
			continue
		}
		if host, pid, ok := strings.Cut(s.ClaimedBy, ":"); !ok || host == "" || strings.Trim(pid, "0123456789") != "" || pid == "" {
			p.add("CLAIMANT NOT RECORDED: %s, claimed_by %q, want host:pid", s, s.ClaimedBy)
		}
	}
}

// checkFires compares the store's runs with the scenario's expected fires
// (the oracle's): every fire has exactly one run (none lost), no run is
// unexpected, and every run has settled. What the runs sent is
// checkDeliveries'.
func checkFires(p *problems, sc *scenario, ids map[string]int64, runs []runRow) {
	byCampaign := map[int64][]runRow{}
	for _, r := range runs {
		byCampaign[r.CampaignID] = append(byCampaign[r.CampaignID], r)
	}
	known := map[int64]bool{}
	for _, cs := range sc.campaigns {
		id := ids[cs.Name]
		known[id] = true
		got := map[time.Time][]runRow{}
		for _, r := range byCampaign[id] {
			got[r.ScheduledFor] = append(got[r.ScheduledFor], r)
		}
		want := map[time.Time]bool{}
		for _, f := range cs.Fires {
			want[f] = true
			switch rs := got[f]; len(rs) {
			case 0:
				p.add("LOST: campaign %s (id %d, %s) fire at %s has no run", cs.Name, id, describeSchedule(cs), f.Format(time.RFC3339))
			case 1:
				if !settled(rs[0].Status) {
					p.add("LOST: campaign %s (id %d) run %d for %s never settled: %s", cs.Name, id, rs[0].ID, f.Format(time.RFC3339), rs[0].Status)
				}
			default:
				p.add("DUPLICATE FIRE: campaign %s (id %d) has %d runs for %s", cs.Name, id, len(rs), f.Format(time.RFC3339))
			}
		}
		for at, rs := range got {
			if !want[at] {
				p.add("UNEXPECTED FIRE: campaign %s (id %d, %s) run %d for %s is not one of its %d due fires",
					cs.Name, id, describeSchedule(cs), rs[0].ID, at.Format(time.RFC3339), len(cs.Fires))
			}
		}
	}
	for cid, rs := range byCampaign {
		if !known[cid] {
			p.add("UNEXPECTED FIRE: run %d of campaign %d, which the test never created", rs[0].ID, cid)
		}
	}
}

func describeSchedule(cs campaignSpec) string {
	s := cs.Schedule
	switch s.Kind() {
	case "cron":
		d := fmt.Sprintf("cron %q", s.Cron)
		if s.Timezone != "" {
			d += " in " + s.Timezone
		}
		return d
	case "at":
		return "at " + s.At.UTC().Format(time.RFC3339)
	}
	return "now"
}

func settled(runStatus string) bool { return runStatus != "pending" && runStatus != "running" }

// checkRunOutcomes holds each settled run's status to its sends, as the
// state machine settles a run (docs/state-machine.md, FinishRun): done
// when every send is sent, partially_failed when some are and some are
// not, expired when none is and every one expired (deliver_within passed
// before it was attempted), failed when none is otherwise (or the run has
// no send: its templates failed at its fire). Only an operator cancels a
// run, and the e2e tests cancel nothing: a cancelled run is a misreport
// whatever its sends (it was accepted with any, found by a review).
func checkRunOutcomes(p *problems, runs []runRow, sends []sendRow) {
	total, sent, expired := map[int64]int{}, map[int64]int{}, map[int64]int{}
	for _, s := range sends {
		total[s.RunID]++
		switch s.Status {
		case "sent":
			sent[s.RunID]++
		case "expired":
			expired[s.RunID]++
		}
	}
	for _, r := range runs {
		n, k, x := total[r.ID], sent[r.ID], expired[r.ID]
		var ok bool
		switch r.Status {
		case "done":
			ok = n > 0 && k == n
		case "partially_failed":
			ok = k > 0 && k < n
		case "expired":
			ok = n > 0 && x == n
		case "failed":
			ok = k == 0 && (n == 0 || x < n)
		case "cancelled":
			p.add("RUN CANCELLED: run %d of campaign %d for %s is cancelled (%d of its %d sends sent), but the test cancelled nothing",
				r.ID, r.CampaignID, r.ScheduledFor.Format(time.RFC3339), k, n)
			continue
		case "pending", "running":
			ok = true // not settled: checkFires reports it
		}
		if !ok {
			p.add("RUN MISREPORTED: run %d of campaign %d for %s is %s with %d of its %d sends sent, %d expired",
				r.ID, r.CampaignID, r.ScheduledFor.Format(time.RFC3339), r.Status, k, n, x)
		}
	}
}

// emuRecord is the emulator's side of a run, as the checks read it: every
// accepted push (answered or not), its 429 counters, and the call log in
// front of it.
type emuRecord struct {
	pushes []emulator.Push         // every app's, oldest first
	calls  map[string][]callResult // send key → its calls, in the order they ended
	// counters: app key → the emulator's counters, read with the call log.
	counters map[string]emulator.Counters
	// counted is the store's quota ledger: app key → the instants of the
	// attempts the guard counts (checkChaosLateness).
	counted map[string][]time.Time
}

func (c *cluster) record(ctx context.Context, sc *scenario) (emuRecord, error) {
	rec := emuRecord{pushes: c.emu.Pushes(), calls: c.calls.snapshot(),
		counters: map[string]emulator.Counters{}, counted: map[string][]time.Time{}}
	keys := map[string]string{}
	for _, a := range sc.apps {
		rec.counters[a.Key] = c.emu.Counters(a.Key)
		keys[a.Name] = a.Key
	}
	rows, err := c.store.DB().QueryContext(ctx, `SELECT app, sent_at FROM quota_ledger`)
	if err != nil {
		return rec, fmt.Errorf("read the quota ledger: %w", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var app string
		var at time.Time
		if err := rows.Scan(&app, &at); err != nil {
			return rec, err
		}
		rec.counted[keys[app]] = append(rec.counted[keys[app]], at.UTC())
	}
	return rec, rows.Err()
}

// lastCallDropped reports whether the last call made for key went
// unanswered (a stall or a reset): only then is the outcome unknowable to
// the sender. A send is never re-sent once unknown, so an unanswered call
// followed by another is no excuse for ending unknown.
func (r emuRecord) lastCallDropped(key string) bool {
	cs := r.calls[key]
	return len(cs) > 0 && cs[len(cs)-1].Dropped
}

// unknowable is the excuse of an unknown send: its last call went
// unanswered, or the worker holding it (its last claimant) was killed.
func unknowable(rec emuRecord, killed func(sendRow) bool) func(sendRow) bool {
	return func(s sendRow) bool { return s.Status == "unknown" && (rec.lastCallDropped(s.Key) || killed(s)) }
}

// checkEmulator matches the store's sends with the emulator's accepted
// pushes: no send key pushed twice; every push the client saw answered has
// its messageUID on exactly that send (or its worker was killed holding
// it); every sent send has its push; a push whose answer was dropped
// belongs to an unknown send; no messageUID twice; never a 429 (by the
// emulator's counters and by the call log). Each unknown send must be
// explained: its last call unanswered, or killed(s).
func checkEmulator(p *problems, rec emuRecord, sc *scenario, sends []sendRow, killed func(sendRow) bool) {
	explainUnknown := unknowable(rec, killed)
	byKey := map[string][]sendRow{}
	for _, s := range sends {
		byKey[s.Key] = append(byKey[s.Key], s)
	}
	for k, ss := range byKey {
		if len(ss) > 1 {
			p.add("AMBIGUOUS: %d sends share the key %q (sends %d and %d)", len(ss), k, ss[0].ID, ss[1].ID)
		}
	}
	pushes := map[string][]emulator.Push{}
	for _, ps := range rec.pushes {
		pushes[sendKey(ps.Request)] = append(pushes[sendKey(ps.Request)], ps)
	}
	for _, a := range sc.apps {
		if n := rec.counters[a.Key].RateLimited; n > 0 {
			p.add("429: the emulator answered app %s 429 %d times", a.Name, n)
		}
	}
	for k, cs := range rec.calls {
		for _, c := range cs {
			if c.Status == http.StatusTooManyRequests {
				p.add("429: a call for %q was answered 429 (call log)", k)
				break
			}
		}
		checkCallOrder(p, k, cs)
	}
	for k, ps := range pushes {
		if len(ps) > 1 {
			p.add("DUPLICATE PUSH: %q accepted %d times by the emulator (messageUIDs %s, %s)", k, len(ps), ps[0].MessageUID, ps[1].MessageUID)
		}
		ss := byKey[k]
		if len(ss) == 0 {
			p.add("STRAY PUSH: the emulator accepted %q (messageUID %s), which is no send of the store", k, ps[0].MessageUID)
			continue
		}
		if msg := judgePush(k, ps[0], ss[0], killed); msg != "" {
			p.add("%s", msg)
		}
		for _, x := range ps {
			if !sameAudience(x.Request.Audience, ss[0].Audience) {
				p.add("WRONG AUDIENCE: the emulator accepted %q (messageUID %s) for %s, its send %d in the store has %s",
					k, x.MessageUID, describeAudience(x.Request.Audience), ss[0].ID, describeAudience(ss[0].Audience))
			}
			if ss[0].Body == nil {
				continue // a hand-made record: no stored body
			}
			if fields := bodyDiff(x.Request, *ss[0].Body); len(fields) > 0 {
				p.add("PUSH NOT AS STORED: the emulator accepted %q (messageUID %s) with %s other than its send %d's stored body",
					k, x.MessageUID, strings.Join(fields, ", "), ss[0].ID)
			}
		}
	}
	uids := map[string]int64{}
	for _, s := range sends {
		switch s.Status {
		case "sent":
			if s.MessageUID == "" {
				p.add("MESSAGEUID MISSING: %s", s)
			}
			if prev, dup := uids[s.MessageUID]; dup && s.MessageUID != "" {
				p.add("MESSAGEUID TWICE: %s and send %d both record %s", s, prev, s.MessageUID)
			}
			uids[s.MessageUID] = s.ID
			if len(pushes[s.Key]) == 0 {
				p.add("SENT WITHOUT PUSH: %s, but the emulator never accepted it", s)
			}
		case "unknown":
			if !explainUnknown(s) {
				p.add("UNEXPLAINED UNKNOWN: %s, but its last call was answered (emulator calls %v) and no worker died holding it",
					s, rec.calls[s.Key])
			}
		}
	}
}

// checkUnansweredAccounted matches the call log's unanswered calls with
// the faults the emulator says it injected (rec.counters): a call dropped for another reason (a handler's panic, a
// connection the harness lost) would otherwise excuse an unknown send as
// unknowable. And every processed stall (stall_sent) must have left its
// push: one that did not was a call the service refused (a 429, a 400)
// whose refusal the stall hid.
func checkUnansweredAccounted(p *problems, rec emuRecord) {
	counters := rec.counters
	dropped := 0
	for _, cs := range rec.calls {
		for _, c := range cs {
			if c.Dropped {
				dropped++
			}
		}
	}
	injected := 0
	stalled := map[string]int{}
	for _, ps := range rec.pushes {
		if ps.Answer == "stall_sent" {
			stalled[ps.AppKey]++
		}
	}
	keys := slices.Sorted(maps.Keys(counters))
	for _, k := range keys {
		c := counters[k]
		injected += c.StallSent + c.StallDropped + c.ResetConn
		if c.StallSent != stalled[k] {
			p.add("HIDDEN ANSWER: app key %s: %d calls processed and stalled, %d pushes left by them: the stall hid the refusal of the rest",
				k, c.StallSent, stalled[k])
		}
	}
	if dropped != injected {
		p.add("UNACCOUNTED DROP: the call log has %d calls without an answer, the emulator injected %d stalls and resets", dropped, injected)
	}
}

// checkCallOrder reports a send called again after a call that went
// unanswered (its outcome unknowable: it is never re-sent blindly) or one
// answered 200 (it was delivered), and
// two calls of one send under way at once (two claims of one send). The
// emulator shows a duplicate push only when the first call was processed
// (stall_sent); after a stall_dropped or a reset the re-send left one
// push, and passed (found by a review). Calls are in the order they ended;
// where the log ordered their beginnings too, they are taken in that order.
func checkCallOrder(p *problems, key string, calls []callResult) {
	cs := slices.Clone(calls)
	slices.SortStableFunc(cs, func(a, b callResult) int { return cmp.Compare(a.Began, b.Began) })
	var lastEnd uint64 // the latest end among the calls begun before c
	for i := 1; i < len(cs); i++ {
		prev, c := cs[i-1], cs[i]
		lastEnd = max(lastEnd, prev.Ended)
		switch {
		case c.Began != 0 && c.Began < lastEnd:
			p.add("OVERLAPPING CALLS: %q was called again while a call of it was under way (calls %v)", key, calls)
			return
		case prev.Dropped:
			p.add("RESENT AFTER UNKNOWN: %q was called again after a call that went unanswered (calls %v)", key, calls)
			return
		case prev.Status == http.StatusOK:
			// Its push was delivered and its answer read: a second call is
			// a second delivery attempt, whatever that call met (a 5xx, a
			// reset) and whether or not it left a push.
			p.add("RESENT AFTER SENT: %q was called again after a call answered 200 (calls %v)", key, calls)
			return
		}
	}
}

// judgePush compares the one push the emulator accepted for a send with
// what the store recorded, and returns the problem, if any. An answered
// push must be recorded sent with its messageUID, unless the answer went to
// a worker that was killed holding the send (killed): then nobody could
// read it and unknown is the truth. An unanswered call of the same send
// is no excuse here: the answer of this one was delivered. A push whose
// answer the emulator dropped can never be recorded sent.
func judgePush(key string, ps emulator.Push, s sendRow, killed func(sendRow) bool) string {
	switch ps.Answer {
	case "ok":
		if s.Status == "sent" && s.MessageUID == ps.MessageUID && s.PushID == ps.ID {
			return ""
		}
		if s.Status == "unknown" && killed(s) {
			return ""
		}
		return fmt.Sprintf("MESSAGEUID NOT RECORDED: the emulator accepted %s and answered messageUID %s, push id %s, but the store has %s with messageUID %q, push id %q",
			key, ps.MessageUID, ps.ID, s, s.MessageUID, s.PushID)
	default: // accepted, but the connection was dropped: the client cannot know
		if s.Status == "sent" {
			return fmt.Sprintf("IMPOSSIBLE: %s is sent although the emulator dropped the answer of its only push", s)
		}
	}
	return ""
}

// bodyDiff names the top-level fields of a pushed request that differ from
// the send's stored body, compared as JSON (both are decoded from JSON into
// a pushapi.Request: re-encoded, equal bodies read the same). The store's
// body is what the worker must send as it is; a push narrowed to one
// platform, re-rendered or with another sender reaches other people, or
// says something else, than the campaign asked for.
func bodyDiff(pushed, stored pushapi.Request) []string {
	var out []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"platform", pushed.Platform, stored.Platform},
		{"fromuserid", pushed.FromUserID, stored.FromUserID},
		{"audience", pushed.Audience, stored.Audience},
		{"message", pushed.Message, stored.Message},
		{"notification", pushed.Notification, stored.Notification},
	} {
		a, errA := json.Marshal(f.a)
		b, errB := json.Marshal(f.b)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			out = append(out, f.name)
		}
	}
	if a, b := normalizedJSON(pushed), normalizedJSON(stored); len(out) == 0 && a != b {
		out = append(out, "another field") // one added to pushapi.Request since
	}
	return out
}

// normalizedJSON is r encoded as JSON ("" if it cannot be).
func normalizedJSON(r pushapi.Request) string {
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	return string(b)
}

// alertFor is the alert alertTemplate renders for a campaign's fire.
func alertFor(id int64, fire time.Time) string {
	return fmt.Sprintf("e2e campaign %d fire %s", id, fire.UTC().Format("2006-01-02T15:04:05Z"))
}

// userIDsOf lists the user ids a user-id campaign's file names.
func userIDsOf(cs campaignSpec) []string {
	ids := make([]string, cs.UserIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-user-%05d", cs.Name, i)
	}
	return ids
}

// checkDeliveries goes from the scenario, fire by fire, to what reached the
// emulator, without trusting the store's statuses: every recipient of every
// due fire was pushed exactly once (a user id in exactly one accepted push,
// a tag audience in exactly one), on the campaign's App Key, never before
// the fire (the emulator's receive time); a recipient never pushed is lost
// unless the store's send for it is unknown and excused. The store's sends
// of the fire must cover the audience exactly once, in chunks the service
// accepts.
func checkDeliveries(p *problems, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow, excused func(sendRow) bool) {
	pushesByAlert := map[string][]emulator.Push{}
	for _, ps := range rec.pushes {
		alert := ""
		if ps.Request.Notification != nil {
			alert = ps.Request.Notification.Alert
		}
		pushesByAlert[alert] = append(pushesByAlert[alert], ps)
	}
	sendsByAlert := map[string][]sendRow{}
	for _, s := range sends {
		sendsByAlert[s.Alert] = append(sendsByAlert[s.Alert], s)
	}
	appKey := map[string]string{}
	appOf := map[string]appSpec{}
	for _, a := range sc.apps {
		appKey[a.Name] = a.Key
		appOf[a.Name] = a
	}
	for _, cs := range sc.campaigns {
		id := ids[cs.Name]
		for _, f := range cs.Fires {
			alert := alertFor(id, f)
			what := fmt.Sprintf("campaign %s (id %d, %s) fire at %s", cs.Name, id, describeSchedule(cs), f.Format(time.RFC3339))
			ps, ss := pushesByAlert[alert], sendsByAlert[alert]
			for _, s := range ss {
				if s.Body != nil && !samePlatforms(s.Body.Platform, campaignPlatform) {
					p.add("WRONG PLATFORM: %s: the store's send %d has platform %v; the campaign's is %v", what, s.ID, s.Body.Platform, campaignPlatform)
				}
			}
			for _, x := range ps {
				if x.AppKey != appKey[cs.App] {
					p.add("WRONG APP: %s was pushed with App Key %s, the campaign's app %s has %s", what, x.AppKey, cs.App, appKey[cs.App])
				}
				if !samePlatforms(x.Request.Platform, campaignPlatform) {
					p.add("WRONG PLATFORM: %s was pushed (messageUID %s) to platform %v; the campaign's is %v", what, x.MessageUID, x.Request.Platform, campaignPlatform)
				}
				if x.ReceivedAt.Before(f) {
					p.add("EARLY: %s was received by the emulator at %s, %s early", what, x.ReceivedAt.UTC().Format(time.RFC3339Nano), f.Sub(x.ReceivedAt))
				}
			}
			if cs.UserIDs == 0 {
				for _, s := range ss {
					if !sameAudience(s.Audience, tagAudience) {
						p.add("WRONG AUDIENCE: %s: the store's send %d has audience %s; want %s", what, s.ID, describeAudience(s.Audience), describeAudience(tagAudience))
					}
				}
				tagged := 0
				for _, x := range ps {
					if !sameAudience(x.Request.Audience, tagAudience) {
						p.add("WRONG AUDIENCE: %s was pushed (messageUID %s) to %s; want %s", what, x.MessageUID, describeAudience(x.Request.Audience), describeAudience(tagAudience))
						continue
					}
					checkRecipients(p, what, x, emuUserIDs(appOf[cs.App]))
					tagged++
				}
				if len(ss) != 1 {
					p.add("INCOMPLETE RUN: %s has %d sends in the store, want 1 (tag audience)", what, len(ss))
				}
				switch {
				case tagged > 1:
					p.add("DUPLICATE DELIVERY: %s was pushed %d times", what, tagged)
				case tagged == 0 && (len(ss) != 1 || !excused(ss[0])):
					p.add("LOST: %s never reached the emulator (store: %v)", what, ss)
				}
				continue
			}
			// A user-id campaign: every send and every push names user ids,
			// and nothing else that could widen or narrow the audience.
			for _, s := range ss {
				if len(s.UserIDs) == 0 || !sameAudience(s.Audience, pushapi.Audience{UserID: s.UserIDs}) {
					p.add("WRONG AUDIENCE: %s: the store's send %d has audience %s; want user ids only", what, s.ID, describeAudience(s.Audience))
				}
			}
			for _, x := range ps {
				a := x.Request.Audience
				if len(a.UserID) == 0 || !sameAudience(a, pushapi.Audience{UserID: a.UserID}) {
					p.add("WRONG AUDIENCE: %s was pushed (messageUID %s) to %s; want user ids only", what, x.MessageUID, describeAudience(a))
					continue
				}
				checkRecipients(p, what, x, a.UserID)
			}
			want := userIDsOf(cs)
			inStore := map[string]int{}
			unknowableID := map[string]bool{}
			for _, s := range ss {
				if len(s.UserIDs) > pushapi.MaxUserIDs {
					p.add("OVERSIZED SEND: %s has %d user ids, the service takes %d", s, len(s.UserIDs), pushapi.MaxUserIDs)
				}
				for _, u := range s.UserIDs {
					inStore[u]++
					if excused(s) {
						unknowableID[u] = true
					}
				}
			}
			pushed := map[string]int{}
			for _, x := range ps {
				for _, u := range x.Request.Audience.UserID {
					pushed[u]++
				}
			}
			var storeMiss, storeTwice, lost, twice []string
			for _, u := range want {
				switch n := inStore[u]; {
				case n == 0:
					storeMiss = append(storeMiss, u)
				case n > 1:
					storeTwice = append(storeTwice, u)
				}
				switch n := pushed[u]; {
				case n == 0 && !unknowableID[u]:
					lost = append(lost, u)
				case n > 1:
					twice = append(twice, u)
				}
			}
			wantSet := map[string]bool{}
			for _, u := range want {
				wantSet[u] = true
			}
			if foreign := outside(inStore, wantSet); len(storeMiss) > 0 || len(storeTwice) > 0 || len(foreign) > 0 {
				p.add("INCOMPLETE RUN: %s: its %d sends in the store miss %d of its %d user ids (%s), hold %d twice (%s), %d not its own (%s)",
					what, len(ss), len(storeMiss), len(want), first(storeMiss), len(storeTwice), first(storeTwice), len(foreign), first(foreign))
			}
			if len(lost) > 0 {
				p.add("LOST: %s: %d of its %d user ids never reached the emulator (%s)", what, len(lost), len(want), first(lost))
			}
			if len(twice) > 0 {
				p.add("DUPLICATE DELIVERY: %s: %d user ids were pushed more than once (%s)", what, len(twice), first(twice))
			}
			if foreign := outside(pushed, wantSet); len(foreign) > 0 {
				p.add("WRONG AUDIENCE: %s was pushed to %d user ids outside the campaign's (%s)", what, len(foreign), first(foreign))
			}
		}
	}
}

// tagAudience is the whole audience of every tag campaign of the scenario
// (see campaignSpec.file): the tag "all", nothing else.
var tagAudience = pushapi.Audience{Tag: []string{"all"}}

// sameAudience compares two audiences field by field (a nil list and an
// empty one alike): is_to_all, tag_or and packageName widen or narrow an
// audience as much as its tags and user ids do.
func sameAudience(a, b pushapi.Audience) bool {
	return slices.Equal(a.UserID, b.UserID) && slices.Equal(a.Tag, b.Tag) && slices.Equal(a.TagOr, b.TagOr) &&
		a.PackageName == b.PackageName && a.IsToAll == b.IsToAll
}

// samePlatforms compares two platform lists as sets: a push to [ios] of a
// campaign for [ios, android] never reaches its Android users, and the
// audience alone does not show it (the emulator resolves recipients
// whatever the platform).
func samePlatforms(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func describeAudience(a pushapi.Audience) string {
	return fmt.Sprintf("{userid: %d ids (%s), tag: %v, tag_or: %v, packageName: %q, is_to_all: %v}",
		len(a.UserID), first(a.UserID), a.Tag, a.TagOr, a.PackageName, a.IsToAll)
}

// checkRecipients compares the recipients the emulator resolved for a push
// (Push.Recipients: whom the service would reach) with want, as sets.
func checkRecipients(p *problems, what string, x emulator.Push, want []string) {
	if x.Recipients == nil {
		p.add("WRONG AUDIENCE: %s: the emulator resolved no recipients for messageUID %s", what, x.MessageUID)
		return
	}
	got := slices.Clone(x.Recipients)
	w := slices.Clone(want)
	slices.Sort(got)
	slices.Sort(w)
	got, w = slices.Compact(got), slices.Compact(w)
	if !slices.Equal(got, w) {
		gotSet, wantSet := map[string]int{}, map[string]bool{}
		for _, u := range got {
			gotSet[u]++
		}
		for _, u := range w {
			wantSet[u] = true
		}
		var missing []string
		for _, u := range w {
			if gotSet[u] == 0 {
				missing = append(missing, u)
			}
		}
		extra := outside(gotSet, wantSet)
		p.add("WRONG AUDIENCE: %s: the emulator resolved messageUID %s to %d recipients, want %d: %d extra (%s), %d missing (%s)",
			what, x.MessageUID, len(got), len(w), len(extra), first(extra), len(missing), first(missing))
	}
}

// outside lists the ids m holds that are not in set, sorted.
func outside(m map[string]int, set map[string]bool) []string {
	var out []string
	for u := range m {
		if !set[u] {
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}

func first(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	if len(ids) > 3 {
		return strings.Join(ids[:3], ", ") + ", ..."
	}
	return strings.Join(ids, ", ")
}

// checkQuota recounts each app's accepted pushes (answered or not: the
// service counts them), from the emulator's own record, against its policy,
// window by window.
func checkQuota(p *problems, sc *scenario, pushes []emulator.Push) {
	byApp := map[string][]time.Time{}
	for _, ps := range pushes {
		byApp[ps.AppKey] = append(byApp[ps.AppKey], ps.ReceivedAt)
	}
	quotaWindows(p, sc, byApp, "pushes")
}

// checkLedgerQuota recounts the store's quota ledger (app key -> instants):
// every attempt that may count at the service, the unanswered and the 5xx
// ones too, which the emulator never processed and so never counted. The
// guard must keep those within the quota as well: a guard that forgot them
// (a rebuild counting only sent attempts, say) goes over the service's
// quota, and no 429 from the emulator would show it.
//
// The ledger must hold at least one attempt per push the emulator accepted
// for the app (each is a distinct claim's attempt; a second push of one
// claim is a duplicate, reported apart): an empty ledger, or one that lost
// attempts, would otherwise pass, having nothing to count.
func checkLedgerQuota(p *problems, sc *scenario, counted map[string][]time.Time, pushes []emulator.Push) {
	byApp := map[string][]time.Time{}
	for k, at := range counted {
		byApp[k] = slices.Clone(at)
	}
	accepted := map[string]int{}
	for _, ps := range pushes {
		accepted[ps.AppKey]++
	}
	// nil: a hand-made record with no ledger read (the unit tests of other
	// checks); record always reads one, empty or not.
	for _, a := range sc.apps {
		if counted == nil {
			break
		}
		if n := accepted[a.Key]; len(byApp[a.Key]) < n {
			p.add("LEDGER SHORT: app %s: the emulator accepted %d pushes, the store's quota ledger holds %d attempts", a.Name, n, len(byApp[a.Key]))
		}
	}
	quotaWindows(p, sc, byApp, "attempts in the store's quota ledger")
}

// checkCallsCounted holds every /push.json call that reached the service
// against the quota, whatever became of it: answered 200, answered a 5xx,
// or dropped by a stall or a reset. The service may count any of them, so
// the guard counts each one's attempt too (checkQuota recounts only the
// pushes the emulator accepted, and a 5xx or a reset leaves none). And
// each call must have its attempt in the store's quota ledger, at or
// before the call's instant: the k-th call of an app (by instant) needs k
// attempts of the app at or before it. A call with no attempt of its own
// is one the guard would forget once Redis is flushed and rebuilt from the
// ledger; a ledger short of the calls passed checkLedgerQuota as long as
// it held one attempt per accepted push. A call answered 503 is not
// counted: tagcast holds a 503 as not acted on (its slot goes back, and the
// client hops to the other host within the call). Hand-made records (no
// instants, or no ledger read) are not checked.
func checkCallsCounted(p *problems, sc *scenario, ids map[string]int64, rec emuRecord) {
	if rec.counted == nil {
		return
	}
	byApp := map[string][]time.Time{}
	for _, cs := range rec.calls {
		for _, c := range cs {
			if !c.At.IsZero() && c.Status != http.StatusServiceUnavailable {
				byApp[c.App] = append(byApp[c.App], c.At)
			}
		}
	}
	quotaWindows(p, sc, byApp, "calls that reached the service (answered or not)")
	checkCallsNotEarly(p, sc, ids, rec)
	for _, a := range sc.apps {
		calls := slices.SortedFunc(slices.Values(byApp[a.Key]), time.Time.Compare)
		ledger := slices.SortedFunc(slices.Values(rec.counted[a.Key]), time.Time.Compare)
		for k, at := range calls {
			// The ledger keeps microseconds: an attempt's instant may read
			// up to half a microsecond after the call it began.
			n := sort.Search(len(ledger), func(i int) bool { return ledger[i].After(at.Add(time.Microsecond)) })
			if n < k+1 {
				p.add("CALL NOT COUNTED: app %s: %d calls reached the service by %s, the store's quota ledger holds %d attempts at or before it",
					a.Name, k+1, at.Format(time.RFC3339Nano), n)
				break
			}
		}
	}
}

// checkCallsNotEarly wants every call of a send at or after its fire, by
// the emulator's clock: checkDeliveries times the accepted pushes only, so
// a call made early that met a fault (a 5xx, a reset: no push) went
// unseen, though at the real service it may have been delivered.
func checkCallsNotEarly(p *problems, sc *scenario, ids map[string]int64, rec emuRecord) {
	fireOf := map[string]time.Time{}
	for _, cs := range sc.campaigns {
		for _, f := range cs.Fires {
			fireOf[alertFor(ids[cs.Name], f)] = f
		}
	}
	for _, key := range slices.Sorted(maps.Keys(rec.calls)) {
		alert, _, _ := strings.Cut(key, " chunk-from ")
		f, ok := fireOf[alert]
		if !ok {
			continue // a call of no due fire: checkCalls reports it (STRAY CALL), checkFires its run
		}
		for _, c := range rec.calls[key] {
			if !c.At.IsZero() && c.At.Before(f) {
				p.add("EARLY CALL: %q was called at %s, %s before its fire (status %d, dropped %v)",
					key, c.At.Format(time.RFC3339Nano), f.Sub(c.At), c.Status, c.Dropped)
				break
			}
		}
	}
}

// checkCalls holds every /push.json call of the call log, answered or
// not, to a send of the store and to its campaign's App Key. The pushes
// are held to both by checkEmulator (STRAY PUSH) and checkDeliveries
// (WRONG APP), but a call that met a fault leaves no push: a reset, a
// stall_dropped or a 504 may well have been delivered at the real service,
// so a call that is no send's (a push nobody scheduled) or made with
// another app's key (a push to that app's users, on its quota) is as
// wrong as one that pushed. Both passed unseen (found by a review).
func checkCalls(p *problems, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow) {
	stored := map[string]sendRow{}
	for _, s := range sends {
		stored[s.Key] = s
	}
	keyOf := map[string]string{}
	for _, a := range sc.apps {
		keyOf[a.Name] = a.Key
	}
	appOf := map[string]string{} // alert of a due fire → its campaign's app
	for _, cs := range sc.campaigns {
		for _, f := range cs.Fires {
			appOf[alertFor(ids[cs.Name], f)] = cs.App
		}
	}
	for _, key := range slices.Sorted(maps.Keys(rec.calls)) {
		calls := rec.calls[key]
		s, ok := stored[key]
		if !ok {
			p.add("STRAY CALL: the service got %d calls of %q, which is no send of the store (calls %v)", len(calls), key, calls)
			continue
		}
		alert, _, _ := strings.Cut(key, " chunk-from ")
		app, ok := appOf[alert]
		if !ok {
			app = s.App // a send of no due fire (checkFires reports its run): held to its own app
		}
		want, known := keyOf[app]
		for _, c := range calls {
			if c.App != "" && (!known || c.App != want) {
				p.add("WRONG APP CALL: %q (send %d, app %s, App Key %s) was called with App Key %s (status %d, dropped %v)",
					key, s.ID, app, want, c.App, c.Status, c.Dropped)
				break
			}
		}
	}
}

// quotaWindows checks each app's instants (app key -> instants, what names
// them) against its policy, window by window.
func quotaWindows(p *problems, sc *scenario, byApp map[string][]time.Time, what string) {
	for _, a := range sc.apps {
		loc, err := time.LoadLocation(a.Timezone)
		if err != nil {
			p.add("quota check: app %s: %v", a.Name, err)
			continue
		}
		at := byApp[a.Key]
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		if a.HourWindow != "rolling" && a.HourWindow != "clock" || a.DayWindow != "rolling" && a.DayWindow != "calendar" {
			p.add("quota check: app %s: windows %q/%q, want rolling|clock and calendar|rolling", a.Name, a.HourWindow, a.DayWindow)
			continue
		}
		window(p, a, what, "hour", a.Hourly, a.HourWindow == "rolling", time.Hour, at, func(t time.Time) string {
			lt := t.In(loc) // the clock hour's first instant, as the service counts it
			return lt.Add(-time.Duration(lt.Minute())*time.Minute - time.Duration(lt.Second())*time.Second - time.Duration(lt.Nanosecond())).UTC().Format(time.RFC3339)
		})
		window(p, a, what, "day", a.Daily, a.DayWindow == "rolling", 24*time.Hour, at, func(t time.Time) string {
			return t.In(loc).Format(time.DateOnly)
		})
	}
}

// window checks one window kind: rolling (any span of length holds at most
// limit pushes) or fixed (each calendar bucket holds at most limit).
func window(p *problems, a appSpec, what, name string, limit int, rolling bool, length time.Duration, at []time.Time, bucket func(time.Time) string) {
	if rolling {
		for i := range at {
			j := sort.Search(len(at), func(j int) bool { return !at[j].Before(at[i].Add(length)) })
			if j-i > limit {
				p.add("QUOTA EXCEEDED: app %s: %d %s in the rolling %s from %s (limit %d)", a.Name, j-i, what, name, at[i].Format(time.RFC3339), limit)
				return
			}
		}
		return
	}
	counts := map[string]int{}
	for _, t := range at {
		counts[bucket(t)]++
	}
	for b, n := range counts {
		if n > limit {
			p.add("QUOTA EXCEEDED: app %s: %d %s in the %s %s (limit %d)", a.Name, n, what, name, b, limit)
		}
	}
}

// killRecord is what the chaos test killed: the workers' claimants and the
// sends each held in flight when it died.
type killRecord struct {
	held map[int64]string // send id → the dead claimant holding it
	// wasted: app key → instants of quota slots left reserved and never
	// claimed after a kill (the worker died between its reservation and
	// its claim): the guard counts them for their whole window.
	wasted map[string][]time.Time
}

func newKillRecord() *killRecord {
	return &killRecord{held: map[int64]string{}, wasted: map[string][]time.Time{}}
}

// add records the sends claimant held at its death and returns how many.
func (k *killRecord) add(claimant string, ids []int64) int {
	n := map[int64]bool{}
	for _, id := range ids {
		k.held[id] = claimant
		n[id] = true
	}
	return len(n)
}

// heldAtKill reports whether s was in flight in a worker when it was
// killed, and that worker is still its last claimant (nobody claimed it
// since): then the answer of its call, if any, died with the worker.
func (k *killRecord) heldAtKill(s sendRow) bool {
	c, ok := k.held[s.ID]
	return ok && c == s.ClaimedBy
}

// lateSlack is how long after the instant its app had room a push may
// arrive without being LATE. On the simulated clock a send is made at the
// very instant it may be (the clock rests until the world settles), so
// this only absorbs rounding of the guard's next opening.
const lateSlack = 2 * time.Second

// checkLateness recounts each app's windows from the emulator's own pushes
// and reports a push held back while its app had room: a push received
// more than slack after its fire is LATE if, at some instant from its fire
// to slack before it arrived, both windows of its app had room for one
// more push (counting every push at or before that instant), as the guard
// counts them (each window widened by its margin, quota.DefaultMargin).
// Room only grows at the fire itself, when a rolling slot expires and at a
// fixed window's boundary, so those are the instants examined. Only for a
// run without faults (TestPipeline): retries and kills make a send
// legitimately late.
func checkLateness(p *problems, sc *scenario, ids map[string]int64, pushes []emulator.Push, slack time.Duration) {
	counted := map[string][]time.Time{}
	for _, ps := range pushes {
		counted[ps.AppKey] = append(counted[ps.AppKey], ps.ReceivedAt)
	}
	lateness(p, sc, ids, pushes, counted, slack)
}

// lateness is checkLateness of pushes with each app's windows counted from
// counted (app key → the instants that take a slot).
func lateness(p *problems, sc *scenario, ids map[string]int64, pushes []emulator.Push, counted map[string][]time.Time, slack time.Duration) {
	fireOf := map[string]time.Time{}
	for _, cs := range sc.campaigns {
		for _, f := range cs.Fires {
			fireOf[alertFor(ids[cs.Name], f)] = f
		}
	}
	byApp := map[string][]time.Time{}
	for k, at := range counted {
		byApp[k] = slices.SortedFunc(slices.Values(at), func(a, b time.Time) int { return a.Compare(b) })
	}
	apps := map[string]appSpec{}
	for _, a := range sc.apps {
		apps[a.Key] = a
	}
	reported := map[string]bool{}
	for _, ps := range pushes {
		if ps.Request.Notification == nil {
			continue
		}
		alert := ps.Request.Notification.Alert
		f, ok := fireOf[alert]
		a, known := apps[ps.AppKey]
		if !ok || !known || reported[alert] || ps.ReceivedAt.Sub(f) <= slack {
			continue // a stray push or another app's key: checkEmulator's and checkDeliveries'
		}
		loc, err := time.LoadLocation(a.Timezone)
		if err != nil {
			continue // checkQuota reports it
		}
		r := newRoomModel(a, loc, byApp[a.Key], quota.DefaultMargin)
		if t, why, ok := r.roomBetween(f, ps.ReceivedAt.Add(-slack)); ok {
			reported[alert] = true
			p.add("LATE: %s (app %s) was received at %s, %s after its fire, although the app had room at %s (%s)",
				alert, a.Name, ps.ReceivedAt.UTC().Format(time.RFC3339), ps.ReceivedAt.Sub(f), t.UTC().Format(time.RFC3339Nano), why)
		}
	}
}

// roomModel is one app's windows as the guard counts them, over the
// instants of its accepted pushes (sorted).
type roomModel struct {
	a      appSpec
	loc    *time.Location
	at     []time.Time
	margin time.Duration
}

func newRoomModel(a appSpec, loc *time.Location, at []time.Time, margin time.Duration) roomModel {
	return roomModel{a: a, loc: loc, at: at, margin: margin}
}

// count is how many pushes fall in [from, to] (fromOpen: (from, to]).
func (r roomModel) count(from, to time.Time, fromOpen bool) int {
	lo := sort.Search(len(r.at), func(i int) bool {
		if fromOpen {
			return r.at[i].After(from)
		}
		return !r.at[i].Before(from)
	})
	hi := sort.Search(len(r.at), func(i int) bool { return r.at[i].After(to) })
	return max(0, hi-lo)
}

func (r roomModel) hourStart(t time.Time) time.Time {
	lt := t.In(r.loc)
	return lt.Add(-time.Duration(lt.Minute())*time.Minute - time.Duration(lt.Second())*time.Second - time.Duration(lt.Nanosecond()))
}

func (r roomModel) dayStart(t time.Time) time.Time {
	lt := t.In(r.loc)
	return time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, r.loc)
}

// used is what the hour and the day windows hold at t.
func (r roomModel) used(t time.Time) (hour, day int) {
	if r.a.HourWindow == "rolling" {
		hour = r.count(t.Add(-time.Hour-r.margin), t, true)
	} else {
		hour = r.count(r.hourStart(t).Add(-r.margin), t, false)
	}
	if r.a.DayWindow == "rolling" {
		day = r.count(t.Add(-24*time.Hour-r.margin), t, true)
	} else {
		day = r.count(r.dayStart(t).Add(-r.margin), t, false)
	}
	return hour, day
}

// roomBetween returns the first instant in [from, to] at which both windows
// had room, and their use there.
func (r roomModel) roomBetween(from, to time.Time) (time.Time, string, bool) {
	if to.Before(from) {
		return time.Time{}, "", false
	}
	cands := []time.Time{from}
	for _, x := range r.at { // rolling slots expire
		for _, l := range []time.Duration{time.Hour, 24 * time.Hour} {
			if e := x.Add(l + r.margin); e.After(from) && !e.After(to) {
				cands = append(cands, e)
			}
		}
	}
	for b := r.hourStart(from); !b.After(to); b = r.hourStart(b.Add(time.Hour + time.Minute)) { // clock hours
		if b.After(from) {
			cands = append(cands, b)
		}
	}
	for b := r.dayStart(from); !b.After(to); b = r.dayStart(b.Add(25 * time.Hour)) { // calendar days
		if b.After(from) {
			cands = append(cands, b)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
	for _, t := range cands {
		if h, d := r.used(t); h < r.a.Hourly && d < r.a.Daily {
			return t, fmt.Sprintf("%s hour %d/%d, %s day %d/%d in %s", r.a.HourWindow, h, r.a.Hourly, r.a.DayWindow, d, r.a.Daily, r.a.Timezone), true
		}
	}
	return time.Time{}, "", false
}

// killedBeforeCall lists the unknown sends excused only because a killed
// worker held them in flight, which the service provably never got: the
// emulator has no push for them and none of their calls went unanswered
// (no call at all: the worker died between its claim and its call; or
// only calls answered without a push, a 500 say, the worker dying before it
// recorded the answer). The design accepts them (a send found in_flight
// after a crash becomes unknown: the system cannot know whether the call
// was made), so they are no problem, but the chaos test counts and reports
// them apart from the unknowable calls.
func killedBeforeCall(rec emuRecord, sends []sendRow, killed func(sendRow) bool) []sendRow {
	pushed := map[string]bool{}
	for _, ps := range rec.pushes {
		pushed[sendKey(ps.Request)] = true
	}
	var out []sendRow
	for _, s := range sends {
		if s.Status != "unknown" || !killed(s) || pushed[s.Key] {
			continue
		}
		if !slices.ContainsFunc(rec.calls[s.Key], func(c callResult) bool { return c.Dropped }) {
			out = append(out, s)
		}
	}
	return out
}

// hopsOf counts the calls each host got and the client's fail-over hops
// among them: a call of a send whose request id an earlier call of the
// same send, on the other host, carried (one call of the client, two
// hosts).
func hopsOf(rec emuRecord) (byHost map[string]int, hops int) {
	byHost = map[string]int{}
	for _, cs := range rec.calls {
		hostOf := map[string]string{}
		for _, c := range slices.SortedStableFunc(slices.Values(cs), func(a, b callResult) int { return cmp.Compare(a.Began, b.Began) }) {
			byHost[c.Host]++
			if h, seen := hostOf[c.RequestID]; seen && c.RequestID != "" && h != c.Host {
				hops++
			}
			hostOf[c.RequestID] = c.Host
		}
	}
	return byHost, hops
}

// pipelineChecks are the checks of a run without faults (TestPipeline) on
// what the emulator recorded and the store's sends: nothing is excused,
// and nothing may be late while its app had room.
func pipelineChecks(p *problems, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow) {
	none := func(sendRow) bool { return false }
	checkEmulator(p, rec, sc, sends, none)
	checkCalls(p, sc, ids, rec, sends)
	checkDeliveries(p, sc, ids, rec, sends, none)
	checkQuota(p, sc, rec.pushes)
	checkLedgerQuota(p, sc, rec.counted, rec.pushes)
	checkCallsCounted(p, sc, ids, rec)
	checkLateness(p, sc, ids, rec.pushes, lateSlack)
}

// chaosChecks are the checks of a chaos run (TestChaos): an unknown send is
// excused where its last call went unanswered or a killed worker held it.
func chaosChecks(p *problems, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow, kills *killRecord) {
	checkEmulator(p, rec, sc, sends, kills.heldAtKill)
	checkCalls(p, sc, ids, rec, sends)
	checkDeliveries(p, sc, ids, rec, sends, unknowable(rec, kills.heldAtKill))
	checkQuota(p, sc, rec.pushes)
	checkLedgerQuota(p, sc, rec.counted, rec.pushes)
	checkCallsCounted(p, sc, ids, rec)
	checkChaosLateness(p, sc, ids, rec, sends, kills)
}

// chaosLateSlack is checkLateness's slack under chaos: a process or Redis
// that comes back takes seconds of real time, during which the clock
// rests, but a snoozed run's task may wake a little after its opening.
const chaosLateSlack = time.Minute

// checkChaosLateness is checkLateness under chaos, for the pushes whose
// send met no fault (one call, answered 200, its worker never killed
// holding it): a run stranded by a kill, a restart or a flush while its
// app had room is LATE. Chaos had no lateness check (found by a review).
// The room is counted as the guard counts it: from the store's quota
// ledger (every attempt that may count at the service, the 5xx answers
// too, which the emulator never recorded as pushes) and the slots killed
// workers left reserved.
func checkChaosLateness(p *problems, sc *scenario, ids map[string]int64, rec emuRecord, sends []sendRow, kills *killRecord) {
	clean := map[string]bool{}
	for _, s := range sends {
		cs := rec.calls[s.Key]
		clean[s.Key] = len(cs) == 1 && cs[0].Status == http.StatusOK && !cs[0].Dropped && !kills.heldAtKill(s)
	}
	var pushes []emulator.Push
	for _, ps := range rec.pushes {
		if ps.Answer == "ok" && clean[sendKey(ps.Request)] {
			pushes = append(pushes, ps)
		}
	}
	counted := map[string][]time.Time{}
	for k, at := range rec.counted {
		for _, t := range at {
			// As the guard scores an attempt: its instant rounded up to the
			// millisecond (quota's score). Unrounded, a slot freed at the
			// guard's millisecond and taken again in it looked free for the
			// fraction of a millisecond before (LATE, falsely).
			counted[k] = append(counted[k], t.Add(time.Millisecond-time.Nanosecond).Truncate(time.Millisecond))
		}
	}
	for k, at := range kills.wasted {
		counted[k] = append(counted[k], at...)
	}
	lateness(p, sc, ids, pushes, counted, chaosLateSlack)
}
