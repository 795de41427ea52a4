package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/migrations"
)

// dbTime is t as the store keeps it in the dialect.
func dbTime(s *sqlstore.Store, t time.Time) any {
	if s.Dialect() == migrations.SQLite {
		return t.UTC().UnixMicro()
	}
	return t.UTC()
}

// placeholders returns "(?, …)" groups, numbered $n on PostgreSQL.
func placeholders(s *sqlstore.Store, rows, cols int) string {
	var b strings.Builder
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			n++
			if s.Dialect() == migrations.Postgres {
				fmt.Fprintf(&b, "$%d", n)
			} else {
				b.WriteString("?")
			}
		}
		b.WriteString(")")
	}
	return b.String()
}

// seedCampaigns bulk-inserts n active campaigns, all due far in the future,
// in one transaction, and returns nothing: ids are 1..n.
func seedCampaigns(tb testing.TB, s *sqlstore.Store, n int, future time.Time) {
	tb.Helper()
	ctx := context.Background()
	c := newCampaign("main", "seed", future, 0)
	push, _ := jsonString(c.Push)
	sched, _ := jsonString(c.Schedule)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	const batch = 500
	for start := 0; start < n; start += batch {
		rows := min(batch, n-start)
		args := make([]any, 0, rows*9)
		for i := range rows {
			next := future.Add(time.Duration(start+i) * time.Second)
			args = append(args, "main", fmt.Sprintf("seed-%d", start+i), push, sched, `{"product":"coat"}`, "active",
				dbTime(s, next), dbTime(s, t0), dbTime(s, t0))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaigns (app, name, push, schedule, vars, status, next_run_at, created_at, updated_at) VALUES `+
			placeholders(s, rows, 9), args...); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkClaimDue: the cost of one ClaimDue that fires 10 due campaigns,
// with 1k, 10k and 100k campaigns in the table. The due-campaign index makes
// it O(due): the figures stay flat as the table grows.
func BenchmarkClaimDue(b *testing.B) {
	const due = 10
	for _, d := range dialects {
		for _, n := range []int{1_000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%dk", d.name, n/1000), func(b *testing.B) {
				s := openMigrated(b, d.url(b))
				ctx := context.Background()
				future := t0.AddDate(10, 0, 0)
				seedCampaigns(b, s, n, future)
				// The first `due` campaigns are made due again before every
				// iteration (outside the timer), at a new instant each time.
				ids := make([]string, due)
				for i := range ids {
					ids[i] = fmt.Sprint(i + 1)
				}
				makeDue := `UPDATE campaigns SET next_run_at = ?, status = 'active' WHERE id IN (` + strings.Join(ids, ", ") + `)`
				if s.Dialect() == migrations.Postgres {
					makeDue = strings.Replace(makeDue, "?", "$1", 1)
				}
				far := future.AddDate(50, 0, 0)
				farPlan := func(c campaign.Campaign, _ time.Time) (campaign.FirePlan, error) {
					return campaign.FirePlan{Fire: true, ScheduledFor: *c.NextRunAt, Next: &far}, nil
				}
				b.ResetTimer()
				for i := range b.N {
					now := t0.Add(time.Duration(i) * time.Minute)
					b.StopTimer()
					if _, err := s.DB().ExecContext(ctx, makeDue, dbTime(s, now.Add(-time.Second))); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					runs, err := s.ClaimDue(ctx, now, now, 100, farPlan)
					if err != nil {
						b.Fatal(err)
					}
					if len(runs) != due {
						b.Fatalf("iteration %d: claimed %d, want %d", i, len(runs), due)
					}
				}
			})
		}
	}
}

// TestQueriesUseIndexes checks the query plans behind the scale claims:
// claiming due work reads the partial due index (O(due)) and the quota
// ledger reads (app, sent_at) (O(window)).
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s := openMigrated(t, d.url(t))
			ctx := context.Background()
			seedCampaigns(t, s, 2000, t0.AddDate(1, 0, 0))
			queries := map[string]string{
				"campaigns_due":            `SELECT id FROM campaigns WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT 100`,
				"quota_ledger_app_sent_at": `SELECT sent_at FROM quota_ledger WHERE app = ? AND sent_at >= ? AND sent_at < ? ORDER BY sent_at`,
				"sends_stale":              `SELECT id FROM sends WHERE status = 'in_flight' AND lease_until < ? ORDER BY lease_until, id`,
			}
			args := map[string][]any{
				"campaigns_due":            {dbTime(s, t0)},
				"quota_ledger_app_sent_at": {"main", dbTime(s, t0), dbTime(s, t0.Add(time.Hour))},
				"sends_stale":              {dbTime(s, t0)},
			}
			conn, err := s.DB().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			prefix := "EXPLAIN QUERY PLAN "
			if s.Dialect() == migrations.Postgres {
				prefix = "EXPLAIN "
				// Tiny test tables: make the planner show whether the index
				// can serve the query at all.
				if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
					t.Fatal(err)
				}
			}
			for index, q := range queries {
				if s.Dialect() == migrations.Postgres {
					for i := range strings.Count(q, "?") {
						q = strings.Replace(q, "?", fmt.Sprintf("$%d", i+1), 1)
					}
				}
				rows, err := conn.QueryContext(ctx, prefix+q, args[index]...)
				if err != nil {
					t.Fatalf("%s: %v", index, err)
				}
				var plan []string
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, fmt.Sprint(vals...))
				}
				_ = rows.Close()
				if text := strings.Join(plan, "\n"); !strings.Contains(text, index) {
					t.Errorf("query for %s does not use index %s:\n%s", index, index, text)
				}
			}
		})
	}
}
