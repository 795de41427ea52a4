package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/migrations"
)

func TestOpenSchemes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openMigrated(t, "sqlite::memory:")
	if s.Dialect() != migrations.SQLite {
		t.Errorf("dialect = %s", s.Dialect())
	}
	c, err := s.Create(ctx, newCampaign("main", "mem", t0, 0), t0)
	if err != nil {
		t.Fatal(err)
	}
	// The in-memory database lives on one connection: a later call sees it.
	if _, err := s.Get(ctx, c.ID, campaign.RunsQuery{}); err != nil {
		t.Errorf("in-memory database lost its data: %v", err)
	}

	for _, tc := range []struct{ url, want string }{
		{"mysql://u:hunter2@h/db", "want a postgres://"},
		{"sqlite://", "missing file path"},
	} {
		_, err := sqlstore.Open(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) leaks the password: %v", tc.url, err)
		}
	}
	// A connection failure names the database without its password.
	_, err = sqlstore.Open(ctx, "postgres://tagcast:hunter2@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open(unreachable) = %v; want an error without the password", err)
	}
}

var _ campaign.Store = (*sqlstore.Store)(nil)
