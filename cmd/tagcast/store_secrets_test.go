package main

import (
	"testing"
)

// TestStoreErrorHidesQueryPassword: PostgreSQL also takes the
// password as a query parameter (postgres://bob@host/db?password=...), and
// `config check` redacts it there; a role that cannot reach the database
// must not print it in its error either.
func TestStoreErrorHidesQueryPassword(t *testing.T) {
	t.Parallel()
	const dbPass = "DBQUERYPASS-8812"
	vars := map[string]string{
		"TAGCAST_DATABASE_URL": "postgres://bob@127.0.0.1:1/tagcast?sslmode=disable&password=" + dbPass,
		"TAGCAST_ADMIN_TOKENS": "tok",
	}
	for _, args := range [][]string{{"serve"}, {"migrate", "status"}, {"migrate", "up"}} {
		r := runTagcast(t, cliEnv{vars: vars}, args...)
		if r.code != 1 {
			t.Fatalf("%v: want exit 1 (database unreachable): %s", args, r)
		}
		assertNoSecret(t, r, dbPass)
	}
}
