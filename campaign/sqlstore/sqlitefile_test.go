package sqlstore_test

import (
	"testing"

	"github.com/tagcast/tagcast/campaign/sqlstore"
)

// TestSQLiteFileOf pins the file a database URL names, as the SQLite driver
// opens it: what `migrate status` checks exists and what serve's guard
// lock sits beside. sqlite://x.db and sqlite://file:x.db are one file.
func TestSQLiteFileOf(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"sqlite://tagcast.db":                             "tagcast.db",
		"sqlite:///var/lib/tagcast.db":                    "/var/lib/tagcast.db",
		"sqlite:///var/lib/tagcast.db?_busy_timeout=500":  "/var/lib/tagcast.db",
		"sqlite://file:tagcast.db":                        "tagcast.db",
		"sqlite://file:/var/lib/tagcast.db?cache=shared":  "/var/lib/tagcast.db",
		"sqlite://file:///var/lib/tagcast.db":             "/var/lib/tagcast.db",
		"sqlite://file://localhost/var/lib/tag%20cast.db": "/var/lib/tag cast.db",
		"sqlite://file:memdb1?mode=memory&cache=shared":   "",
		"sqlite://file::memory:":                          "",
		"sqlite::memory:":                                 "",
		"postgres://db/tagcast":                           "",
	} {
		if got := sqlstore.SQLiteFileOf(url); got != want {
			t.Errorf("SQLiteFileOf(%q) = %q, want %q", url, got, want)
		}
	}
}
