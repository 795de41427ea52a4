package config

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgx reads a password given as a query parameter, and '@' is legal
// unencoded in a query: postgres://db.internal:5432/tagcast?user=tagcast&password=Pa@ss
// names the host and password meant. A first version of the spill check
// refused every '@' in a query value but user's (found by a review); the
// parameters that name a user, a password or a file may hold one.
func TestPasswordQueryParameterMayHoldAnAt(t *testing.T) {
	t.Parallel()
	raw := "postgres://db.internal:5432/tagcast?user=tagcast&password=Pa@ss&sslmode=disable"
	pc, err := pgconn.ParseConfig(raw)
	if err != nil || pc.Host != "db.internal" || pc.Password != "Pa@ss" || pc.User != "tagcast" {
		t.Fatalf("pgx reads %s as host %q user %q password %q (%v)", RedactURL(raw), pc.Host, pc.User, pc.Password, err)
	}
	cfg := Default()
	cfg.Database.URL = raw
	if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "database.url") {
		t.Errorf("Validate refuses a URL pgx reads as meant (host db.internal, password from ?password=): %v", err)
	}
}
