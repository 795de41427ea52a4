package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
)

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q rewrites the '?' placeholders of a query for the dialect and expands
// the {lock}, {share} and {skiplocked} markers (row locks exist on PostgreSQL only;
// SQLite transactions already hold the database's write lock).
func (s *Store) q(query string) string {
	if s.dialect != migrations.Postgres {
		query = strings.ReplaceAll(query, "{lock}", "")
		query = strings.ReplaceAll(query, "{share}", "")
		return strings.ReplaceAll(query, "{skiplocked}", "")
	}
	query = strings.ReplaceAll(query, "{lock}", " FOR UPDATE")
	query = strings.ReplaceAll(query, "{share}", " FOR SHARE")
	query = strings.ReplaceAll(query, "{skiplocked}", " FOR UPDATE SKIP LOCKED")
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ts is a time as the dialect stores it: timestamptz on PostgreSQL, Unix
// microseconds on SQLite. Times are UTC with microsecond precision.
func (s *Store) ts(t time.Time) any {
	t = utc(t)
	if s.dialect == migrations.SQLite {
		return t.UnixMicro()
	}
	return t
}

func (s *Store) tsp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.ts(*t)
}

// utc is t in UTC at the stores' precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func utcp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := utc(*t)
	return &u
}

// ceilUTCP is utcp rounding up to the microsecond: for an instant nothing
// may happen before (an `at`, a start, a next fire), so that the stored one
// is never earlier than the one asked for.
func ceilUTCP(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := ceilUTC(*t)
	return &u
}

// ceilUTC is t in UTC rounded up to the microsecond.
func ceilUTC(t time.Time) time.Time {
	u := utc(t)
	if u.Before(t) {
		u = u.Add(time.Microsecond)
	}
	return u
}

// scanTime scans either dialect's time into a *time.Time (nil for NULL).
type scanTime struct{ dst **time.Time }

func (st scanTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*st.dst = nil
	case int64:
		t := time.UnixMicro(v).UTC()
		*st.dst = &t
	case time.Time:
		t := v.UTC()
		*st.dst = &t
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// scanTimeV scans a NOT NULL time.
type scanTimeV struct{ dst *time.Time }

func (st scanTimeV) Scan(src any) error {
	var p *time.Time
	if err := (scanTime{&p}).Scan(src); err != nil {
		return err
	}
	if p == nil {
		return errors.New("sqlstore: unexpected NULL time")
	}
	*st.dst = *p
	return nil
}

// scanJSON decodes a JSON column (json on PostgreSQL, TEXT on SQLite). With numbers, a number
// in an untyped place (campaign vars) stays a json.Number, as the campaign
// file parser left it: a template then renders 12345678 as it was
// validated, not as a float64's 1.2345678e+07.
type scanJSON struct {
	dst     any
	numbers bool
}

func (sj scanJSON) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as JSON", src)
	}
	if !sj.numbers {
		return json.Unmarshal(b, sj.dst)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(sj.dst)
}

func mustJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// inList renders "'a', 'b'" for statuses from the transition table (fixed
// identifiers, never user input).
func inList[S campaign.Status](ss []S) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = "'" + string(s) + "'"
	}
	return strings.Join(parts, ", ")
}

const campaignCols = `id, app, name, push, schedule, vars, status, next_run_at, created_at, updated_at`

func scanCampaign(row interface{ Scan(...any) error }) (campaign.Campaign, error) {
	var c campaign.Campaign
	err := row.Scan(campaignDest(&c)...)
	return c, err
}

// campaignDest is what a row of campaignCols scans into.
func campaignDest(c *campaign.Campaign) []any {
	return []any{&c.ID, &c.App, &c.Name, scanJSON{dst: &c.Push}, scanJSON{dst: &c.Schedule}, scanJSON{dst: &c.Vars, numbers: true},
		&c.Status, scanTime{&c.NextRunAt}, scanTimeV{&c.CreatedAt}, scanTimeV{&c.UpdatedAt}}
}

const runCols = `id, campaign_id, app, scheduled_for, status, deliver_by, enqueued_at, retries, error, created_at, updated_at, finished_at`

func scanRun(row interface{ Scan(...any) error }) (campaign.Run, error) {
	var r campaign.Run
	err := row.Scan(runDest(&r)...)
	return r, err
}

// runDest is what a row of runCols scans into.
func runDest(r *campaign.Run) []any {
	return []any{&r.ID, &r.CampaignID, &r.App, scanTimeV{&r.ScheduledFor}, &r.Status, scanTime{&r.DeliverBy},
		scanTime{&r.EnqueuedAt}, &r.Retries, &r.Error, scanTimeV{&r.CreatedAt}, scanTimeV{&r.UpdatedAt}, scanTime{&r.FinishedAt}}
}

const sendCols = `id, run_id, campaign_id, app, idx, body, status, attempts, claim, next_attempt_at, claimed_at, lease_until,
	sent_at, push_id, message_uid, last_code, last_message, created_at, updated_at, claimed_by`

func scanSend(row interface{ Scan(...any) error }) (campaign.Send, error) {
	var s campaign.Send
	err := row.Scan(sendDest(&s)...)
	return s, err
}

// sendDest is what a row of sendCols scans into.
func sendDest(s *campaign.Send) []any {
	return []any{&s.ID, &s.RunID, &s.CampaignID, &s.App, &s.Index, scanJSON{dst: &s.Body}, &s.Status, &s.Attempts, &s.Claim,
		scanTime{&s.NextAttemptAt}, scanTime{&s.ClaimedAt}, scanTime{&s.LeaseUntil}, scanTime{&s.SentAt},
		&s.PushID, &s.MessageUID, &s.LastCode, &s.LastMessage, scanTimeV{&s.CreatedAt}, scanTimeV{&s.UpdatedAt}, &s.ClaimedBy}
}

// qualify prefixes every column of a column list with a table alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer func() { _ = rows.Close() }()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// inTx runs fn in a transaction (BEGIN IMMEDIATE on SQLite), committing
// when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
