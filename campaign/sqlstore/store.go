package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
)

var _ campaign.Store = (*Store)(nil)

// Create stores a validated campaign.
func (s *Store) Create(ctx context.Context, c campaign.Campaign, now time.Time) (campaign.Campaign, error) {
	out, _, err := s.insertCampaign(ctx, c, nil, now)
	return out, err
}

// CreateIdempotent stores a validated campaign under an idempotency key,
// or returns the campaign already created under it. The insert skips a
// row whose key is taken (ON CONFLICT on the partial unique index
// campaigns_idempotency_key): on PostgreSQL it waits for a concurrent
// insert of the same key to commit or roll back, on SQLite writers take
// turns; either way one insert wins and the others read its campaign.
func (s *Store) CreateIdempotent(ctx context.Context, c campaign.Campaign, key campaign.IdempotencyKey, now time.Time) (campaign.Campaign, bool, error) {
	if err := campaign.CheckIdempotencyKey(key.Key); err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: idempotency key: %w", c.Name, err)
	}
	if key.RequestHash == "" {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: idempotency key %q: no request hash", c.Name, key.Key)
	}
	// A second round only when the row that took the key is gone by the
	// time it is read (campaigns are never deleted; a guard, not a path).
	for range 3 {
		out, inserted, err := s.insertCampaign(ctx, c, &key, now)
		if err != nil || inserted {
			return out, false, err
		}
		existing, found, err := s.FindIdempotent(ctx, key)
		if err != nil {
			return campaign.Campaign{}, false, err
		}
		if found {
			return existing, true, nil
		}
	}
	return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: idempotency key %q: taken, but its campaign cannot be read", c.Name, key.Key)
}

// FindIdempotent returns the campaign created under key.Key.
func (s *Store) FindIdempotent(ctx context.Context, key campaign.IdempotencyKey) (campaign.Campaign, bool, error) {
	var (
		c    campaign.Campaign
		hash sql.NullString
	)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT `+campaignCols+`, request_hash FROM campaigns WHERE idempotency_key = ?`), key.Key).
		Scan(append(campaignDest(&c), &hash)...)
	if errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, false, nil
	}
	if err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("campaign of idempotency key %q: %w", key.Key, err)
	}
	if hash.String != key.RequestHash {
		return campaign.Campaign{}, false, &campaign.IdempotencyKeyReusedError{Key: key.Key, CampaignID: c.ID}
	}
	return c, true, nil
}

// insertCampaign stores a validated campaign, under key when not nil.
// inserted is false, and nothing stored, when key is taken.
func (s *Store) insertCampaign(ctx context.Context, c campaign.Campaign, key *campaign.IdempotencyKey, now time.Time) (out campaign.Campaign, inserted bool, err error) {
	switch c.Status {
	case "", campaign.CampaignActive:
	default:
		// A campaign is created active (done when it has no fire): paused
		// or cancelled are what an operator's act makes of one, and one
		// created paused without a next fire would resume active with
		// none, never fired, never done.
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: status %q: a campaign is created active", c.Name, c.Status)
	}
	c.Status = campaign.CampaignActive
	if c.NextRunAt == nil {
		c.Status = campaign.CampaignDone
	}
	push, err := mustJSON(c.Push)
	if err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: push: %w", c.Name, err)
	}
	// The store keeps instants to the microsecond: a schedule instant finer
	// than that would never equal the next_run_at derived from it, and an
	// `at` campaign would look due again after it fired. Every instant
	// rounds up: at, start and next_run_at so that nothing happens before
	// the instant asked for (never early), and the exclusive end so that a
	// fire (always a whole microsecond) before it stays before it.
	c.Schedule.At, c.Schedule.Start, c.Schedule.End = ceilUTCP(c.Schedule.At), ceilUTCP(c.Schedule.Start), ceilUTCP(c.Schedule.End)
	sched, err := mustJSON(c.Schedule)
	if err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: schedule: %w", c.Name, err)
	}
	if c.Vars == nil {
		c.Vars = map[string]any{}
	}
	vars, err := mustJSON(c.Vars)
	if err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: vars: %w", c.Name, err)
	}
	c.NextRunAt = ceilUTCP(c.NextRunAt)
	c.CreatedAt, c.UpdatedAt = utc(now), utc(now)
	args := []any{c.App, c.Name, push, sched, vars, c.Status, s.tsp(c.NextRunAt), s.ts(now), s.ts(now)}
	query := `INSERT INTO campaigns (app, name, push, schedule, vars, status, next_run_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	if key != nil {
		// The conflict target names the partial index's column and
		// predicate: both databases infer the index from them.
		args = append(args, key.Key, key.RequestHash)
		query = `INSERT INTO campaigns (app, name, push, schedule, vars, status, next_run_at, created_at, updated_at, idempotency_key, request_hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id`
	}
	err = s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&c.ID)
	if key != nil && errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, false, nil // the key is taken
	}
	if err != nil {
		return campaign.Campaign{}, false, fmt.Errorf("create campaign %q: %w", c.Name, err)
	}
	return c, true, nil
}

// List returns a page of campaigns, cut short before their stored sizes
// pass campaign.MaxListPageBytes. It reads in one read-only transaction
// (as Get does): the matching ids first, then their sizes, computed in the
// database a chunk at a time, then only the kept campaigns' rows, so the
// pushes of the campaigns past the budget never leave the database.
func (s *Store) List(ctx context.Context, f campaign.ListFilter) ([]campaign.Campaign, int64, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	where := []string{"id > ?"}
	args := []any{f.After}
	if f.App != "" {
		where, args = append(where, "app = ?"), append(args, f.App)
	}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	switch {
	case f.Name == "":
	case s.dialect == migrations.SQLite:
		// SQLite's LIKE ignores ASCII case, PostgreSQL's does not: instr
		// matches a substring case-sensitively, as LIKE does on PostgreSQL.
		where, args = append(where, `instr(name, ?) > 0`), append(args, f.Name)
	default:
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Name)
		where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, "%"+esc+"%")
	}
	args = append(args, limit+1)
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == migrations.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to commit
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM campaigns WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: %w", err)
	}
	ids, err := collect(rows, func(row interface{ Scan(...any) error }) (int64, error) {
		var id int64
		err := row.Scan(&id)
		return id, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: %w", err)
	}
	var next int64
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	if len(ids) == 0 {
		return nil, 0, nil
	}
	keep, err := keepWithin(ids, campaign.MaxListPageBytes, func(chunk []int64) (map[int64]int64, error) {
		return s.campaignBytes(ctx, tx, chunk)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: sizes: %w", err)
	}
	if keep < len(ids) {
		ids = ids[:keep]
		next = ids[keep-1]
	}
	in, inArgs := s.idsIn("id", ids)
	rows, err = tx.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE `+in+` ORDER BY id`, inArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: %w", err)
	}
	cs, err := collect(rows, scanCampaign)
	if err != nil {
		return nil, 0, fmt.Errorf("list campaigns: %w", err)
	}
	return cs, next, nil
}

// campaignBytes is the bytes of each of the campaigns ids as the database
// stores what grows in them (name, push, schedule and vars), computed in
// the database: octet_length of the json text on PostgreSQL, octet_length
// on SQLite (read from the record header, without loading the value).
func (s *Store) campaignBytes(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]int64, error) {
	size := `octet_length(name) + octet_length(push) + octet_length(schedule) + octet_length(vars)`
	if s.dialect == migrations.Postgres {
		size = `octet_length(name)::bigint + octet_length(push::text) + octet_length(schedule::text) + octet_length(vars::text)`
	}
	in, args := s.idsIn("id", ids)
	return s.sizes(ctx, tx, `SELECT id, `+size+` FROM campaigns WHERE `+in, args)
}

func (s *Store) getCampaign(ctx context.Context, q querier, id int64, lock bool) (campaign.Campaign, error) {
	query := `SELECT ` + campaignCols + ` FROM campaigns WHERE id = ?`
	if lock {
		query += "{lock}"
	}
	c, err := scanCampaign(q.QueryRowContext(ctx, s.q(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, &campaign.NotFoundError{Entity: "campaign", ID: id}
	}
	if err != nil {
		return c, fmt.Errorf("campaign %d: %w", id, err)
	}
	return c, nil
}

func (s *Store) getRun(ctx context.Context, q querier, id int64, lock bool) (campaign.Run, error) {
	query := `SELECT ` + runCols + ` FROM runs WHERE id = ?`
	if lock {
		query += "{lock}"
	}
	r, err := scanRun(q.QueryRowContext(ctx, s.q(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, &campaign.NotFoundError{Entity: "run", ID: id}
	}
	if err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) getSend(ctx context.Context, q querier, id int64, lock bool) (campaign.Send, error) {
	query := `SELECT ` + sendCols + ` FROM sends WHERE id = ?`
	if lock {
		query += "{lock}"
	}
	sd, err := scanSend(q.QueryRowContext(ctx, s.q(query), id))
	if errors.Is(err, sql.ErrNoRows) {
		return sd, &campaign.NotFoundError{Entity: "send", ID: id}
	}
	if err != nil {
		return sd, fmt.Errorf("send %d: %w", id, err)
	}
	return sd, nil
}

// GetCampaign returns a campaign without its runs.
func (s *Store) GetCampaign(ctx context.Context, id int64) (campaign.Campaign, error) {
	return s.getCampaign(ctx, s.db, id, false)
}

// Get returns a campaign with one page of its runs (newest first) and their
// sends, the page cut short before its sends' bodies pass
// campaign.MaxRunsPageBytes, and the counts of all its runs by status, in
// one read-only transaction: REPEATABLE READ on PostgreSQL (one snapshot
// for every statement), a deferred read transaction on SQLite (WAL: one
// snapshot from the first read).
func (s *Store) Get(ctx context.Context, id int64, q campaign.RunsQuery) (campaign.Detail, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = campaign.DefaultRunsLimit
	}
	limit = min(limit, campaign.MaxRunsLimit)
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == migrations.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: begin: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }() // read-only: nothing to commit
	return s.getPage(ctx, tx, id, q.Before, limit)
}

func (s *Store) getPage(ctx context.Context, tx *sql.Tx, id, before int64, limit int) (campaign.Detail, error) {
	c, err := s.getCampaign(ctx, tx, id, false)
	if err != nil {
		return campaign.Detail{}, err
	}
	d := campaign.Detail{Campaign: c, Runs: []campaign.RunDetail{}, RunCounts: map[campaign.RunStatus]int{}}
	for _, st := range campaign.Statuses[campaign.RunStatus]() {
		d.RunCounts[st] = 0
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT status, count(*) FROM runs WHERE campaign_id = ? GROUP BY status`), id)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: count runs: %w", id, err)
	}
	if err := scanCounts(rows, d.RunCounts); err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: count runs: %w", id, err)
	}
	query, args := `SELECT `+runCols+` FROM runs WHERE campaign_id = ? ORDER BY id DESC LIMIT ?`, []any{id, limit + 1}
	if before > 0 {
		query, args = `SELECT `+runCols+` FROM runs WHERE campaign_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, []any{id, before, limit + 1}
	}
	rows, err = tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: runs: %w", id, err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: runs: %w", id, err)
	}
	if len(runs) > limit {
		runs = runs[:limit]
		d.RunsNext = runs[limit-1].ID
	}
	if len(runs) == 0 {
		return d, nil
	}
	// The page stops before its sends' bodies pass MaxRunsPageBytes. Their
	// lengths come first, computed in the database, a chunk of runs at a
	// time (doubling, so that a page of large runs measures about what it
	// keeps, not the whole limit); then only the kept runs' sends are read.
	ids := make([]int64, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	keep, err := keepWithin(ids, campaign.MaxRunsPageBytes, func(chunk []int64) (map[int64]int64, error) {
		return s.bodyBytes(ctx, tx, chunk)
	})
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: sends' sizes: %w", id, err)
	}
	if keep < len(runs) {
		runs, ids = runs[:keep], ids[:keep]
		d.RunsNext = runs[keep-1].ID
	}
	byRun := make(map[int64]int, len(runs))
	for i, r := range runs {
		byRun[r.ID] = i
		d.Runs = append(d.Runs, campaign.RunDetail{Run: r, Sends: []campaign.Send{}})
	}
	in, args := s.runIDsIn(ids)
	rows, err = tx.QueryContext(ctx, `SELECT `+sendCols+` FROM sends WHERE `+in+` ORDER BY run_id, idx`, args...)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: sends: %w", id, err)
	}
	sends, err := collect(rows, scanSend)
	if err != nil {
		return campaign.Detail{}, fmt.Errorf("campaign %d: sends: %w", id, err)
	}
	for _, sd := range sends {
		if i, ok := byRun[sd.RunID]; ok {
			d.Runs[i].Sends = append(d.Runs[i].Sends, sd)
		}
	}
	return d, nil
}

// firstSizesChunk is how many items (runs of Get, campaigns of List) a
// page measures first; each further chunk is twice the last.
const firstSizesChunk = 32

// keepWithin is how many of a page's ids, in page order, fit in budget: it
// measures them a chunk at a time (firstSizesChunk, then doubling, so that
// a page of large items measures about what it keeps, not its whole limit)
// and stops before the sum of their sizes (an id measure leaves out: 0)
// passes budget, always keeping at least one.
func keepWithin(ids []int64, budget int64, measure func(chunk []int64) (map[int64]int64, error)) (int, error) {
	keep, total := 0, int64(0)
	for lo, n := 0, firstSizesChunk; lo < len(ids); lo, n = lo+n, 2*n {
		chunk := ids[lo:min(lo+n, len(ids))]
		sizes, err := measure(chunk)
		if err != nil {
			return 0, err
		}
		for _, id := range chunk {
			total += sizes[id]
			if keep > 0 && total > budget {
				return keep, nil
			}
			keep++
		}
	}
	return keep, nil
}

// bodyBytes is the bytes of the sends' bodies of each of the runs ids (a
// run without sends is missing), as the database stores them, without
// reading the bodies out: octet_length of the json text on PostgreSQL
// (computed in the database), octet_length on SQLite (read from the
// record header, without loading the body).
func (s *Store) bodyBytes(ctx context.Context, tx *sql.Tx, ids []int64) (map[int64]int64, error) {
	size := `octet_length(body)`
	if s.dialect == migrations.Postgres {
		size = `octet_length(body::text)`
	}
	in, args := s.runIDsIn(ids)
	return s.sizes(ctx, tx, `SELECT run_id, sum(`+size+`) FROM sends WHERE `+in+` GROUP BY run_id`, args)
}

// sizes reads the (id, bytes) rows of query into a map.
func (s *Store) sizes(ctx context.Context, tx *sql.Tx, query string, args []any) (map[int64]int64, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	sizes := map[int64]int64{}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		sizes[id] = n
	}
	return sizes, rows.Err()
}

// runIDsIn is a condition on sends.run_id being one of ids, and its
// arguments, in the dialect's placeholders (a page has at most
// MaxRunsLimit runs: well under SQLite's 32,766 parameters).
func (s *Store) runIDsIn(ids []int64) (string, []any) {
	return s.idsIn("run_id", ids)
}

// idsIn is a condition on column col being one of ids (at most a page's
// 1,000), and its arguments, in the dialect's placeholders: the only
// placeholders of the statement it goes into.
func (s *Store) idsIn(col string, ids []int64) (string, []any) {
	if s.dialect == migrations.Postgres {
		return col + ` = ANY($1)`, []any{ids}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return col + ` IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`, args
}

// scanCounts reads (status, count) rows into counts.
func scanCounts(rows *sql.Rows, counts map[campaign.RunStatus]int) error {
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			st campaign.RunStatus
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		counts[st] = n
	}
	return rows.Err()
}

// RunsWithStatus returns up to limit runs of a campaign in one of statuses
// with id > afterID, in id order.
func (s *Store) RunsWithStatus(ctx context.Context, campaignID int64, statuses []campaign.RunStatus, afterID int64, limit int) ([]campaign.Run, error) {
	if len(statuses) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{campaignID, afterID}
	for _, st := range statuses {
		args = append(args, string(st))
	}
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE campaign_id = ? AND id > ? AND status IN (?`+
		strings.Repeat(", ?", len(statuses)-1)+`) ORDER BY id LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("campaign %d: runs: %w", campaignID, err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("campaign %d: runs: %w", campaignID, err)
	}
	return runs, nil
}

// getRunJoined reads a run with its sends in one statement (the worker
// reads a run at every delivery of its task). ok is false when the run
// has no send or does not exist.
func (s *Store) getRunJoined(ctx context.Context, runID int64) (campaign.Run, []campaign.Send, bool, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+qualify("r", runCols)+`, `+qualify("s", sendCols)+`
		FROM runs r JOIN sends s ON s.run_id = r.id WHERE r.id = ? ORDER BY s.idx`), runID)
	if err != nil {
		return campaign.Run{}, nil, false, fmt.Errorf("run %d: %w", runID, err)
	}
	defer func() { _ = rows.Close() }()
	var (
		r     campaign.Run
		sends []campaign.Send
	)
	for rows.Next() {
		var sd campaign.Send
		if err := rows.Scan(append(runDest(&r), sendDest(&sd)...)...); err != nil {
			return campaign.Run{}, nil, false, fmt.Errorf("run %d: %w", runID, err)
		}
		sends = append(sends, sd)
	}
	if err := rows.Err(); err != nil {
		return campaign.Run{}, nil, false, fmt.Errorf("run %d: %w", runID, err)
	}
	return r, sends, len(sends) > 0, nil
}

// GetRun returns a run and its sends.
func (s *Store) GetRun(ctx context.Context, runID int64) (campaign.Run, []campaign.Send, error) {
	if r, sends, ok, err := s.getRunJoined(ctx, runID); ok || err != nil {
		return r, sends, err
	}
	// No send: a run that failed to render, or no run at all.
	r, err := s.getRun(ctx, s.db, runID, false)
	if err != nil {
		return r, nil, err
	}
	sends, err := s.runSends(ctx, s.db, runID)
	if err != nil {
		return r, nil, fmt.Errorf("campaign %d run %d: %w", r.CampaignID, runID, err)
	}
	return r, sends, nil
}

func (s *Store) runSends(ctx context.Context, q querier, runID int64) ([]campaign.Send, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+sendCols+` FROM sends WHERE run_id = ? ORDER BY idx`), runID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanSend)
}

// MarkRunEnqueued records that the run's task is in the queue.
func (s *Store) MarkRunEnqueued(ctx context.Context, runID int64, at time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET enqueued_at = ?, updated_at = ? WHERE id = ?`), s.ts(at), s.ts(at), runID)
	if err != nil {
		return fmt.Errorf("run %d: mark enqueued: %w", runID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &campaign.NotFoundError{Entity: "run", ID: runID}
	}
	return nil
}

// markChunk bounds the ids of one MarkRunsEnqueued statement on SQLite
// (at most 32,766 parameters).
const markChunk = 1000

// MarkRunsEnqueued records that the runs' tasks are in the queue.
func (s *Store) MarkRunsEnqueued(ctx context.Context, runIDs []int64, at time.Time) error {
	if len(runIDs) == 0 {
		return nil
	}
	if s.dialect == migrations.Postgres {
		// One statement text whatever the count, so pgx caches one plan.
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET enqueued_at = $1, updated_at = $1 WHERE id = ANY($2)`, s.ts(at), runIDs); err != nil {
			return fmt.Errorf("%d runs: mark enqueued: %w", len(runIDs), err)
		}
		return nil
	}
	for len(runIDs) > 0 {
		chunk := runIDs[:min(len(runIDs), markChunk)]
		runIDs = runIDs[len(chunk):]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, s.ts(at))
		for _, id := range chunk {
			args = append(args, id)
		}
		marks := strings.Repeat("?, ", len(chunk)-1) + "?"
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET enqueued_at = ?1, updated_at = ?1 WHERE id IN (`+marks+`)`, args...); err != nil {
			return fmt.Errorf("%d runs: mark enqueued: %w", len(chunk), err)
		}
	}
	return nil
}

// RunsToEnqueue returns pending runs never enqueued, due by due, after afterID.
func (s *Store) RunsToEnqueue(ctx context.Context, due time.Time, afterID int64, limit int) ([]campaign.Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM runs
		WHERE status = 'pending' AND enqueued_at IS NULL AND scheduled_for <= ? AND id > ? ORDER BY id LIMIT ?`), s.ts(due), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("runs to enqueue: %w", err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("runs to enqueue: %w", err)
	}
	return runs, nil
}

// OpenRuns returns pending and running runs after afterID.
func (s *Store) OpenRuns(ctx context.Context, afterID int64, limit int) ([]campaign.Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE status IN ('pending', 'running') AND id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("open runs: %w", err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return nil, fmt.Errorf("open runs: %w", err)
	}
	return runs, nil
}

// StartRun moves a pending run to running.
func (s *Store) StartRun(ctx context.Context, runID int64, now time.Time) (campaign.Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`UPDATE runs SET status = 'running', updated_at = ? WHERE id = ? AND status IN (`+
		inList(campaign.AllowedFrom(campaign.RunRunning))+`) RETURNING `+runCols), s.ts(now), runID)
	if err != nil {
		return campaign.Run{}, fmt.Errorf("run %d: start: %w", runID, err)
	}
	runs, err := collect(rows, scanRun)
	if err != nil {
		return campaign.Run{}, fmt.Errorf("run %d: start: %w", runID, err)
	}
	if len(runs) == 1 {
		return runs[0], nil
	}
	r, err := s.getRun(ctx, s.db, runID, false)
	if err != nil {
		return r, err
	}
	if r.Status == campaign.RunRunning {
		return r, nil
	}
	return r, &campaign.TransitionError{Entity: "run", ID: runID, From: string(r.Status), To: string(campaign.RunRunning)}
}

// settledStatus is the status a run ends in, given its sends; ok is false
// while any send is unsettled.
func settledStatus(sends []campaign.Send) (campaign.RunStatus, int, bool) {
	var sent, expired, unsettled int
	for _, sd := range sends {
		switch sd.Status {
		case campaign.SendSent:
			sent++
		case campaign.SendExpired:
			expired++
		case campaign.SendPending, campaign.SendInFlight, campaign.SendRetryWait:
			unsettled++
		}
	}
	switch {
	case unsettled > 0:
		return "", unsettled, false
	case sent == len(sends):
		return campaign.RunDone, 0, true
	case sent > 0:
		return campaign.RunPartiallyFailed, 0, true
	case expired == len(sends):
		return campaign.RunExpired, 0, true
	default:
		return campaign.RunFailed, 0, true
	}
}

// settle moves a locked run to the status its sends call for.
func (s *Store) settle(ctx context.Context, tx *sql.Tx, r campaign.Run, now time.Time) (campaign.Run, error) {
	sends, err := s.runSends(ctx, tx, r.ID)
	if err != nil {
		return r, fmt.Errorf("campaign %d run %d: %w", r.CampaignID, r.ID, err)
	}
	if len(sends) == 0 {
		// Created failed at its fire (its templates did not render):
		// nothing was sent, nothing is to settle.
		return r, nil
	}
	to, unsettled, ok := settledStatus(sends)
	if !ok {
		return r, &campaign.TransitionError{Entity: "run", ID: r.ID, From: string(r.Status), To: "a final status",
			Reason: fmt.Sprintf("%d sends are still pending, in flight or waiting to retry", unsettled)}
	}
	if r.Status == to {
		return r, nil
	}
	if !campaign.CanTransition(r.Status, to) {
		return r, &campaign.TransitionError{Entity: "run", ID: r.ID, From: string(r.Status), To: string(to)}
	}
	row := tx.QueryRowContext(ctx, s.q(`UPDATE runs SET status = ?, finished_at = ?, updated_at = ? WHERE id = ? RETURNING `+runCols),
		to, s.ts(now), s.ts(now), r.ID)
	out, err := scanRun(row)
	if err != nil {
		return r, fmt.Errorf("campaign %d run %d: settle: %w", r.CampaignID, r.ID, err)
	}
	return out, nil
}

// FinishRun settles a run whose sends are all settled.
func (s *Store) FinishRun(ctx context.Context, runID int64, now time.Time) (campaign.Run, error) {
	// The common end first, in one compare-and-set: a running run whose
	// sends were all sent is done. Sent is final for a send of an open run
	// (only a settled run can be retried), so nothing can move under it.
	rows, err := s.db.QueryContext(ctx, s.q(`UPDATE runs SET status = 'done', finished_at = ?, updated_at = ?
		WHERE id = ? AND status = 'running' AND NOT EXISTS (SELECT 1 FROM sends WHERE run_id = ? AND status <> 'sent')
		RETURNING `+runCols), s.ts(now), s.ts(now), runID, runID)
	if err != nil {
		return campaign.Run{}, fmt.Errorf("run %d: finish: %w", runID, err)
	}
	done, err := collect(rows, scanRun)
	if err != nil {
		return campaign.Run{}, fmt.Errorf("run %d: finish: %w", runID, err)
	}
	if len(done) == 1 {
		return done[0], nil
	}
	var out campaign.Run
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.getRun(ctx, tx, runID, true)
		if err != nil {
			return err
		}
		out, err = s.settle(ctx, tx, r, now)
		return err
	})
	return out, err
}

// ExpireRun expires what is left of a run past its deliver_by.
func (s *Store) ExpireRun(ctx context.Context, runID int64, now time.Time) (campaign.Run, error) {
	var out campaign.Run
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, err := s.getRun(ctx, tx, runID, true)
		if err != nil {
			return err
		}
		out = r
		if !campaign.CanTransition(r.Status, campaign.RunExpired) {
			return &campaign.TransitionError{Entity: "run", ID: runID, From: string(r.Status), To: string(campaign.RunExpired)}
		}
		// The caller decided on a copy it read earlier; an operator retry
		// may since have re-opened the run with a fresh deliver_by. Decide
		// again under the run's lock, or the retry is expired unattempted.
		if r.DeliverBy == nil || now.Before(*r.DeliverBy) {
			reason := "it has no deliver_by"
			if r.DeliverBy != nil {
				reason = "its deliver_by " + r.DeliverBy.UTC().Format(time.RFC3339Nano) + " has not passed"
			}
			return &campaign.TransitionError{Entity: "run", ID: runID, From: string(r.Status), To: string(campaign.RunExpired), Reason: reason}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sends SET status = 'expired', last_message = ?, updated_at = ?
			WHERE run_id = ? AND status IN ('pending', 'retry_wait')`), "deliver_within passed before it was attempted", s.ts(now), runID); err != nil {
			return fmt.Errorf("campaign %d run %d: expire sends: %w", r.CampaignID, runID, err)
		}
		sends, err := s.runSends(ctx, tx, runID)
		if err != nil {
			return fmt.Errorf("campaign %d run %d: %w", r.CampaignID, runID, err)
		}
		_, _, ok := settledStatus(sends)
		if !ok {
			return nil // a send is in flight; its worker settles the run
		}
		// A run re-opened by an operator retry keeps what its earlier pass
		// sent (or left unknown), so expired before a worker started it, it
		// settles from pending as partially_failed or failed, not expired.
		out, err = s.settle(ctx, tx, r, now)
		return err
	})
	return out, err
}

// ResetForRetry re-opens a settled run for an operator retry.
func (s *Store) ResetForRetry(ctx context.Context, runID int64, opts campaign.RetryOptions, now time.Time) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if opts.Key != nil {
			if err := campaign.CheckIdempotencyKey(opts.Key.Key); err != nil {
				return fmt.Errorf("retry run %d: idempotency key: %w", runID, err)
			}
			if opts.Key.RequestHash == "" {
				return fmt.Errorf("retry run %d: idempotency key %q: no request hash", runID, opts.Key.Key)
			}
		}
		r, err := s.getRun(ctx, tx, runID, false)
		if err != nil {
			return err
		}
		c, err := s.getCampaign(ctx, tx, r.CampaignID, true)
		if err != nil {
			return err
		}
		if r, err = s.getRun(ctx, tx, runID, true); err != nil {
			return err
		}
		// Under the run's lock: a retry sent again under its key, even
		// concurrently with the first, finds the first one's record.
		if opts.Key != nil {
			if err := s.retriedUnderKey(ctx, tx, *opts.Key, runID); err != nil {
				return err
			}
		}
		if c.Status == campaign.CampaignCancelled {
			return &campaign.TransitionError{Entity: "run", ID: runID, From: string(r.Status), To: string(campaign.RunPending),
				Reason: fmt.Sprintf("campaign %d is cancelled", c.ID)}
		}
		if !campaign.CanTransition(r.Status, campaign.RunPending) {
			return &campaign.TransitionError{Entity: "run", ID: runID, From: string(r.Status), To: string(campaign.RunPending),
				Reason: "only a settled run with failed, expired or unknown sends can be retried"}
		}
		from := []campaign.SendStatus{campaign.SendFailed, campaign.SendExpired}
		if opts.Unknown {
			from = append(from, campaign.SendUnknown)
		}
		for _, st := range from {
			if !campaign.CanTransition(st, campaign.SendPending) {
				return fmt.Errorf("campaign %d run %d: retry from %s is not in the transition table", c.ID, runID, st)
			}
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE sends SET status = 'pending', attempts = 0, next_attempt_at = NULL, claimed_at = NULL,
			lease_until = NULL, sent_at = NULL, updated_at = ? WHERE run_id = ? AND status IN (`+inList(from)+`)`), s.ts(now), runID)
		if err != nil {
			return fmt.Errorf("campaign %d run %d: reset sends: %w", c.ID, runID, err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		var deliverBy *time.Time
		if d := c.Schedule.DeliverWithin; d > 0 {
			t := now.Add(d)
			deliverBy = &t
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = 'pending', enqueued_at = NULL, finished_at = NULL,
			retries = retries + 1, deliver_by = ?, updated_at = ? WHERE id = ?`), s.tsp(deliverBy), s.ts(now), runID); err != nil {
			return fmt.Errorf("campaign %d run %d: reopen: %w", c.ID, runID, err)
		}
		if opts.Key != nil {
			return s.recordRetryKey(ctx, tx, *opts.Key, runID, int(n), now)
		}
		return nil
	})
	if err != nil {
		return 0, err // rolled back: nothing was reset
	}
	return int(n), nil
}

// retriedUnderKey returns an *IdempotencyKeyReusedError when key is bound
// to another request, or a *RetriedUnderKeyError when a retry under key
// re-opened run runID before.
func (s *Store) retriedUnderKey(ctx context.Context, tx *sql.Tx, key campaign.IdempotencyKey, runID int64) error {
	if err := s.checkRetryKeyBinding(ctx, tx, key); err != nil {
		return err
	}
	var rec campaign.RetryRecord
	err := tx.QueryRowContext(ctx, s.q(`SELECT reset, created_at FROM retry_keys WHERE idempotency_key = ? AND run_id = ?`), key.Key, runID).
		Scan(&rec.Reset, scanTimeV{&rec.At})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("retry run %d: idempotency key %q: %w", runID, key.Key, err)
	}
	return &campaign.RetriedUnderKeyError{Key: key.Key, RunID: runID, Reset: rec.Reset, At: rec.At}
}

// checkRetryKeyBinding returns an *IdempotencyKeyReusedError when key is
// bound to a request other than key.RequestHash's.
func (s *Store) checkRetryKeyBinding(ctx context.Context, tx *sql.Tx, key campaign.IdempotencyKey) error {
	var hash string
	err := tx.QueryRowContext(ctx, s.q(`SELECT request_hash FROM retry_requests WHERE idempotency_key = ?`), key.Key).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("idempotency key %q: %w", key.Key, err)
	case hash != key.RequestHash:
		return &campaign.IdempotencyKeyReusedError{Key: key.Key, Retry: "another retry request"}
	}
	return nil
}

// recordRetryKey records that a retry under key re-opened run runID (reset
// sends), binding key to key.RequestHash if this is its first run. The
// binding is an insert that does nothing on a key already bound, read back
// in the same transaction: on PostgreSQL a request that binds the key at
// the same time makes it wait for that one's commit, so of two different
// requests under one key only the first to bind it re-opens anything (the
// other's transaction, its re-opening included, rolls back).
func (s *Store) recordRetryKey(ctx context.Context, tx *sql.Tx, key campaign.IdempotencyKey, runID int64, reset int, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO retry_requests (idempotency_key, request_hash, created_at) VALUES (?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING`), key.Key, key.RequestHash, s.ts(now)); err != nil {
		return fmt.Errorf("run %d: bind idempotency key %q: %w", runID, key.Key, err)
	}
	if err := s.checkRetryKeyBinding(ctx, tx, key); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO retry_keys (idempotency_key, run_id, reset, created_at) VALUES (?, ?, ?, ?)`),
		key.Key, runID, reset, s.ts(now)); err != nil {
		return fmt.Errorf("run %d: record idempotency key %q: %w", runID, key.Key, err)
	}
	return nil
}

// RetriesUnderKey returns the runs re-opened under a retry's idempotency
// key, in run id order.
func (s *Store) RetriesUnderKey(ctx context.Context, key string) ([]campaign.RetryRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT k.run_id, k.reset, r.request_hash, k.created_at
		FROM retry_keys k JOIN retry_requests r ON r.idempotency_key = k.idempotency_key
		WHERE k.idempotency_key = ? ORDER BY k.run_id`), key)
	if err != nil {
		return nil, fmt.Errorf("retries under idempotency key %q: %w", key, err)
	}
	recs, err := collect(rows, func(row interface{ Scan(...any) error }) (campaign.RetryRecord, error) {
		var r campaign.RetryRecord
		err := row.Scan(&r.RunID, &r.Reset, &r.RequestHash, scanTimeV{&r.At})
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("retries under idempotency key %q: %w", key, err)
	}
	return recs, nil
}
