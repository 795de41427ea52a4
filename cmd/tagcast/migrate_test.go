package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/internal/testenv"
)

func TestMigrateUpDownStatus(t *testing.T) {
	t.Parallel()
	db := "sqlite://" + filepath.Join(t.TempDir(), "tagcast.db")
	env := cliEnv{vars: map[string]string{"TAGCAST_DATABASE_URL": db}}

	applied := func() []bool {
		t.Helper()
		r := runTagcast(t, env, "migrate", "status", "--output", "json")
		if r.code != 0 {
			t.Fatalf("status: %s", r)
		}
		var st []struct {
			Applied bool `json:"applied"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status output: %v\n%s", err, r)
		}
		var out []bool
		for _, s := range st {
			out = append(out, s.Applied)
		}
		return out
	}
	if diff := cmp.Diff([]bool{false, false}, applied()); diff != "" {
		t.Errorf("fresh (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 || !strings.Contains(r.stdout, "applied 00001 00001_campaigns.sql") ||
		!strings.Contains(r.stdout, "applied 00002 00002_claimed_by.sql") {
		t.Fatalf("up: %s", r)
	}
	if diff := cmp.Diff([]bool{true, true}, applied()); diff != "" {
		t.Errorf("after up (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "up"); r.code != 0 || !strings.Contains(r.stdout, "nothing applied") {
		t.Errorf("second up: %s", r)
	}
	// down rolls back the newest migration only.
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00002") {
		t.Fatalf("down: %s", r)
	}
	if diff := cmp.Diff([]bool{true, false}, applied()); diff != "" {
		t.Errorf("after down (-want +got):\n%s", diff)
	}
	if r := runTagcast(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "rolled back 00001") {
		t.Fatalf("second down: %s", r)
	}
	if diff := cmp.Diff([]bool{false, false}, applied()); diff != "" {
		t.Errorf("after the second down (-want +got):\n%s", diff)
	}
	// --database wins over the environment.
	other := "sqlite://" + filepath.Join(t.TempDir(), "other.db")
	if r := runTagcast(t, env, "migrate", "up", "--database", other); r.code != 0 {
		t.Fatalf("up --database: %s", r)
	}
	if diff := cmp.Diff([]bool{false, false}, applied()); diff != "" {
		t.Errorf("--database migrated the env database (-want +got):\n%s", diff)
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Parallel()
	if r := runTagcast(t, cliEnv{}, "migrate"); r.code != 2 {
		t.Errorf("migrate without subcommand: %s", r)
	}
	r := runTagcast(t, cliEnv{}, "migrate", "up", "--database", "mysql://u@h/db")
	if r.code == 0 || !strings.Contains(r.stderr, "database.url") {
		t.Errorf("bad scheme: %s", r)
	}
	// An unreachable database: the error, and no "nothing applied".
	unreachable := "postgres://u@" + testenv.FreeAddr(t) + "/db?sslmode=disable&connect_timeout=2"
	for _, sub := range []string{"up", "down"} {
		r = runTagcast(t, cliEnv{}, "migrate", sub, "--database", unreachable)
		if r.code != 1 || r.stdout != "" || r.stderr == "" {
			t.Errorf("migrate %s on an unreachable database: %s, want exit 1, the error and nothing on stdout", sub, r)
		}
	}
}
