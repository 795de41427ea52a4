//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
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

// checkFires compares the store's runs with the scenario's expected fires:
// every fire has exactly one run (none lost), no run is unexpected, and
// every run has settled.
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

// checkEmulator matches the store's sends with the emulator's accepted
// pushes: no send key pushed twice; every push the client saw answered has
// its messageUID on exactly that send; every sent send has its push; a push
// whose answer was dropped belongs to an unknown send; no messageUID twice;
// never a 429. Each unknown send must be explained by explainUnknown.
func checkEmulator(p *problems, c *cluster, sc *scenario, sends []sendRow, explainUnknown func(sendRow) bool) {
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
	for _, a := range sc.apps {
		for _, ps := range c.emu.PushesFor(a.Key) {
			pushes[sendKey(ps.Request)] = append(pushes[sendKey(ps.Request)], ps)
		}
		if n := c.emu.Counters(a.Key).RateLimited; n > 0 {
			p.add("429: the emulator answered app %s 429 %d times", a.Name, n)
		}
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
		if msg := judgePush(k, ps[0], ss[0], explainUnknown); msg != "" {
			p.add("%s", msg)
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
				p.add("UNEXPLAINED UNKNOWN: %s, but none of its %d calls went unanswered (emulator calls %v) and no worker died holding it",
					s, len(c.calls.of(s.Key)), c.calls.of(s.Key))
			}
		}
	}
}

// judgePush compares the one push the emulator accepted for a send with
// what the store recorded, and returns the problem, if any. An answered
// push must be recorded sent with its messageUID, unless the answer went to
// a worker that was killed holding the send (explainUnknown): then nobody
// could read it and unknown is the truth. A push whose answer the emulator
// dropped can never be recorded sent.
func judgePush(key string, ps emulator.Push, s sendRow, explainUnknown func(sendRow) bool) string {
	switch ps.Answer {
	case "ok":
		if s.Status == "sent" && s.MessageUID == ps.MessageUID {
			return ""
		}
		if s.Status == "unknown" && explainUnknown(s) {
			return ""
		}
		return fmt.Sprintf("MESSAGEUID NOT RECORDED: the emulator accepted %s and answered messageUID %s, but the store has %s with messageUID %q",
			key, ps.MessageUID, s, s.MessageUID)
	default: // accepted, but the connection was dropped: the client cannot know
		if s.Status == "sent" {
			return fmt.Sprintf("IMPOSSIBLE: %s is sent although the emulator dropped the answer of its only push", s)
		}
	}
	return ""
}

// checkQuota recounts each app's accepted pushes (answered or not: the
// service counts them) against its policy, window by window.
func checkQuota(p *problems, c *cluster, sc *scenario) {
	for _, a := range sc.apps {
		loc, err := time.LoadLocation(a.Timezone)
		if err != nil {
			p.add("quota check: app %s: %v", a.Name, err)
			continue
		}
		var at []time.Time
		for _, ps := range c.emu.PushesFor(a.Key) {
			at = append(at, ps.ReceivedAt)
		}
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		window(p, a, "hour", a.Hourly, a.HourWindow == "rolling", time.Hour, at, func(t time.Time) string {
			return t.In(loc).Format("2006-01-02 15h")
		})
		window(p, a, "day", a.Daily, a.DayWindow == "rolling", 24*time.Hour, at, func(t time.Time) string {
			return t.In(loc).Format(time.DateOnly)
		})
	}
}

// window checks one window kind: rolling (any span of length holds at most
// limit pushes) or fixed (each calendar bucket holds at most limit).
func window(p *problems, a appSpec, name string, limit int, rolling bool, length time.Duration, at []time.Time, bucket func(time.Time) string) {
	if rolling {
		for i := range at {
			j := sort.Search(len(at), func(j int) bool { return !at[j].Before(at[i].Add(length)) })
			if j-i > limit {
				p.add("QUOTA EXCEEDED: app %s sent %d pushes in the rolling %s from %s (limit %d)", a.Name, j-i, name, at[i].Format(time.RFC3339), limit)
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
			p.add("QUOTA EXCEEDED: app %s sent %d pushes in the %s %s (limit %d)", a.Name, n, name, b, limit)
		}
	}
}
