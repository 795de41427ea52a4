package main

import (
	"strings"
	"testing"

	"github.com/tagcast/tagcast/internal/testenv"
)

// TestMigrateNeverPrintsPasswordWithAt: a password holding an unencoded '@'
// (p@ss...) passed database.url's validation, which reads the URL with Go's
// url.Parse (the last '@' ends the user information), but pgx parses it
// as libpq does: the first '@' ends it. pgx then takes the rest of the
// password for the host and every migrate subcommand prints it:
// "lookup ss-SECRET-tail@127.0.0.1: no such host". The URL is refused now
// (percent-encode '@' as %40), naming no part of the password.
func TestMigrateNeverPrintsPasswordWithAt(t *testing.T) {
	t.Parallel()
	url := "postgres://tagcast:p@ss-SECRET-tail@" + testenv.FreeAddr(t) + "/tagcast?sslmode=disable&connect_timeout=2"
	for _, sub := range []string{"up", "down", "status", "reidentify"} {
		r := runTagcast(t, cliEnv{}, "migrate", sub, "--database", url)
		if r.code == 0 {
			t.Errorf("migrate %s: exit 0 on an unreachable database: %s", sub, r)
		}
		if strings.Contains(r.stdout+r.stderr, "SECRET") {
			t.Errorf("migrate %s printed part of the database password:\n%s", sub, r)
		}
	}
}
