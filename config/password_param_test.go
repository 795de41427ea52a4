package config

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// An '@' after the host must be percent-encoded (%40), in a query value
// too: a literal one cannot be told from a password with an unencoded '?'
// that spilled into the query ("postgres://tagcast:12?sslcert=S3CRET@db/x"
// connects to host tagcast port 12, and a first version of the check that
// let such values hold an '@' showed the password's tail, found by fuzzing
// and review). pgx decodes %40, so a password given as ?password= keeps
// working; the literal form is refused with the advice, quoting nothing.
func TestAnAtAfterTheHostMustBeEncoded(t *testing.T) {
	t.Parallel()
	raw := "postgres://db.internal:5432/tagcast?user=tagcast&password=Pa%40ss&sslmode=disable"
	pc, err := pgconn.ParseConfig(raw)
	if err != nil || pc.Host != "db.internal" || pc.Password != "Pa@ss" || pc.User != "tagcast" {
		t.Fatalf("pgx reads %s as host %q user %q password %q (%v)", RedactURL(raw), pc.Host, pc.User, pc.Password, err)
	}
	cfg := Default()
	cfg.Database.URL = raw
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate refuses a URL pgx reads as meant (password Pa@ss from ?password=Pa%%40ss): %v", err)
	}
	for _, raw := range []string{
		"postgres://db.internal:5432/tagcast?user=tagcast&password=Pa@S3CRET",
		"postgres://tagcast:12?sslcert=S3CRET@db/x",
		"postgres://tagcast:12?passfile=S3CRET@db/x",
		"redis://u:12?a=S3CRET@cache:6379/0",
		"redis-sentinel://u:p@h1,h2/1?master=m&sentinel_password=x@S3CRET",
	} {
		cfg := Default()
		if strings.HasPrefix(raw, "redis") {
			cfg.Redis.URL = raw
		} else {
			cfg.Database.URL = raw
		}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "%40") || strings.Contains(err.Error(), "S3CRET") {
			t.Errorf("Validate(%s) = %v, want it refused with the %%40 advice, quoting nothing of it", RedactURL(raw), err)
		}
		for _, st := range cfg.Settings() {
			if strings.Contains(st.Value, "S3CRET") {
				t.Errorf("Settings shows %s = %s", st.Path, st.Value)
			}
		}
	}
}
