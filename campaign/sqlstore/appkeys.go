package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tagcast/tagcast/migrations"
)

// AppRenamedError refuses a configured app whose App Key the store has
// recorded under another name (RecordAppKeys).
type AppRenamedError struct {
	App        string // the configured name
	RecordedAs string // the name the store knows the App Key by
}

func (e *AppRenamedError) Error() string {
	return fmt.Sprintf("app %s: its App Key is recorded in this store for app %s, whose campaigns, quota ledger and quota blocks carry that name. "+
		"The service counts the quota per App Key: under a new name the quota guard's windows would start empty and hand the key's quota out again. "+
		"If %s was renamed %s, stop every process of the store and run `tagcast migrate rename-app %s %s`; otherwise give each app its own App Key",
		e.App, e.RecordedAs, e.RecordedAs, e.App, e.RecordedAs, e.App)
}

// appKeyDigest is what the store keeps of an App Key: its SHA-256, in hex.
func appKeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// RecordAppKeys records each app's App Key (app name → App Key) under its
// name, and refuses, recording nothing, an app whose App Key is recorded
// under another name (*AppRenamedError): the quota guard, the quota ledger,
// its blocks and the campaigns know an app by its name, the service counts
// by App Key. An app recorded with another App Key (a new key for the same
// app) takes the new one: the old key's pushes then still count in the
// app's windows, which holds it back, never over the quota.
func (s *Store) RecordAppKeys(ctx context.Context, keys map[string]string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == migrations.Postgres {
			// One recorder at a time (SQLite's writer lock does it there):
			// two first starts at once would both pass ON CONFLICT's check
			// on app and the later meet the other's key_hash.
			if _, err := tx.ExecContext(ctx, `LOCK TABLE app_keys IN EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("lock app_keys: %w", err)
			}
		}
		for _, app := range slices.Sorted(maps.Keys(keys)) {
			digest := appKeyDigest(keys[app])
			if err := s.appKeyElsewhere(ctx, tx, app, digest); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO app_keys (app, key_hash) VALUES (?, ?)
				ON CONFLICT (app) DO UPDATE SET key_hash = excluded.key_hash`), app, digest); err != nil {
				return fmt.Errorf("record app %s's App Key: %w", app, err)
			}
		}
		return nil
	})
}

// appKeyElsewhere returns an *AppRenamedError when digest is recorded
// under a name other than app. (Recorders run one at a time: the table's
// lock on PostgreSQL, the writer lock on SQLite.)
func (s *Store) appKeyElsewhere(ctx context.Context, tx *sql.Tx, app, digest string) error {
	var other string
	switch err := tx.QueryRowContext(ctx, s.q(`SELECT app FROM app_keys WHERE key_hash = ?`), digest).Scan(&other); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read the app recorded for app %s's App Key: %w", app, err)
	case other != app:
		return &AppRenamedError{App: app, RecordedAs: other}
	}
	return nil
}

// appTables are the tables whose rows name an app.
var appTables = []string{"campaigns", "runs", "sends", "quota_ledger", "quota_blocks", "app_keys"}

// RenameApp renames app from to in every table of the store on db, in one
// transaction, and returns the rows renamed per table. It refuses a to
// that any row already names (the two apps' campaigns and quota would be
// merged) and a from no row names. Run it with the store's processes
// stopped, before starting them with the renamed app in their
// configuration.
func RenameApp(ctx context.Context, db *sql.DB, d migrations.Dialect, from, to string) (map[string]int64, error) {
	if from == to {
		return nil, fmt.Errorf("rename-app: %s and %s are the same name", from, to)
	}
	s := &Store{db: db, dialect: d}
	renamed := map[string]int64{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var taken []string
		for _, table := range appTables {
			var n int64
			if err := tx.QueryRowContext(ctx, s.q(`SELECT count(*) FROM `+table+` WHERE app = ?`), to).Scan(&n); err != nil {
				return fmt.Errorf("rename-app: count %s's rows of app %s: %w", table, to, err)
			}
			if n > 0 {
				taken = append(taken, fmt.Sprintf("%s (%d)", table, n))
			}
		}
		if len(taken) > 0 {
			return fmt.Errorf("rename-app: app %s already has rows in this store (%s): renaming %s onto it would merge two apps' campaigns and quota; nothing renamed",
				to, strings.Join(taken, ", "), from)
		}
		total := int64(0)
		for _, table := range appTables {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE `+table+` SET app = ? WHERE app = ?`), to, from)
			if err != nil {
				return fmt.Errorf("rename-app: %s: %w", table, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("rename-app: %s: %w", table, err)
			}
			renamed[table] = n
			total += n
		}
		if total == 0 {
			return fmt.Errorf("rename-app: no row of this store names app %s; nothing renamed", from)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return renamed, nil
}
