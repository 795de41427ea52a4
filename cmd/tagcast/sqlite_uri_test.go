package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateStatusOnAnExistingSQLiteFileURI guards database.url's SQLite
// file: URI form (sqlite://file:PATH, which modernc.org/sqlite opens as a
// URI): `migrate status` and `down` check that the file exists, and must
// look for the file the URI names (found by a review: they stat'ed a file
// literally named "file:/…" and refused the database `migrate up` made).
func TestMigrateStatusOnAnExistingSQLiteFileURI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "tagcast.db")
	db := "sqlite://file:" + file

	if r := runTagcast(t, cliEnv{}, "migrate", "up", "--database", db); r.code != 0 {
		t.Fatalf("migrate up %s: %s", db, r)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("migrate up %s did not create %s: %v", db, file, err)
	}
	for _, sub := range []string{"status", "down"} {
		r := runTagcast(t, cliEnv{}, "migrate", sub, "--database", db)
		if r.code != 0 || strings.Contains(r.stderr, "no SQLite database") {
			t.Errorf("migrate %s --database %s, the file existing and migrated: %s; want it to run", sub, db, r)
		}
	}
}
