// Package sqlstore implements campaign.Store on database/sql for PostgreSQL
// (pgx) and SQLite (modernc.org/sqlite, pure Go).
//
// Every status change is a compare-and-set built from campaign's transition
// table. Claims are safe across goroutines and processes: PostgreSQL locks
// due campaigns with FOR UPDATE SKIP LOCKED; SQLite runs every transaction
// as BEGIN IMMEDIATE (one writer at a time, others wait on busy_timeout) in
// WAL mode over a single connection per process. The store holds no cron
// logic: ClaimDue asks the caller's campaign.PlanFunc.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/migrations"
)

// Store is campaign.Store on a SQL database.
type Store struct {
	db      *sql.DB
	dialect migrations.Dialect
	// claimant names this process in the claims it makes (sends.claimed_by).
	claimant string
	// file is the SQLite database file ("" in memory, and on PostgreSQL).
	file string
}

// busyTimeout is how long a SQLite writer waits for another process's
// transaction before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Open connects to the database named by dbURL and checks the connection:
// postgres://… or postgresql://… (PostgreSQL), sqlite://PATH (a file,
// relative or sqlite:///absolute) or sqlite::memory: (a private in-memory
// database, for tests). It does not migrate; call Migrate.
func Open(ctx context.Context, dbURL string) (*Store, error) {
	db, d, err := openDB(dbURL)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlstore: connect to %s: %w", redact(dbURL), err)
	}
	st := &Store{db: db, dialect: d, file: SQLiteFileOf(dbURL)}
	return st, nil
}

// SQLiteFile is the store's database file: "" for an in-memory SQLite
// database and for PostgreSQL.
func (s *Store) SQLiteFile() string { return s.file }

// sqlitePath is the path (with any query) of a sqlite:// URL, ":memory:"
// for sqlite::memory:.
func sqlitePath(dbURL string) string {
	if dbURL == "sqlite::memory:" {
		return ":memory:"
	}
	return strings.TrimPrefix(dbURL, "sqlite://")
}

// SQLiteFileOf is the database file a sqlite:// URL names, as the SQLite
// driver opens it: the path without its query, and for a file: URI
// (sqlite://file:/var/lib/tagcast.db) the path it names, its authority
// (empty or localhost) dropped and %-escapes decoded. It is "" for an
// in-memory database (sqlite::memory:, file::memory:, mode=memory) and for
// any other URL.
func SQLiteFileOf(dbURL string) string {
	if !strings.HasPrefix(dbURL, "sqlite://") {
		return ""
	}
	file, query, _ := strings.Cut(sqlitePath(dbURL), "?")
	if rest, ok := strings.CutPrefix(file, "file:"); ok {
		if q, err := url.ParseQuery(query); err == nil && q.Get("mode") == "memory" {
			return ""
		}
		if auth, ok := strings.CutPrefix(rest, "//"); ok {
			host, path, _ := strings.Cut(auth, "/")
			if host != "" && host != "localhost" {
				return "" // not a local file: the driver refuses it
			}
			rest = "/" + path
		}
		if p, err := url.PathUnescape(rest); err == nil {
			rest = p
		}
		file = rest
	}
	if file == ":memory:" || file == "" {
		return ""
	}
	return file
}

// OpenDB opens the database/sql handle for dbURL with the settings the
// store relies on (for migrations and tools), and names its dialect.
func OpenDB(dbURL string) (*sql.DB, migrations.Dialect, error) { return openDB(dbURL) }

func openDB(dbURL string) (*sql.DB, migrations.Dialect, error) {
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		db, err := sql.Open("pgx", withConnectTimeout(dbURL))
		if err != nil {
			return nil, "", fmt.Errorf("sqlstore: open %s: %w", redact(dbURL), err)
		}
		db.SetMaxOpenConns(40)
		db.SetMaxIdleConns(40)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db, migrations.Postgres, nil
	case dbURL == "sqlite::memory:" || strings.HasPrefix(dbURL, "sqlite://"):
		path := sqlitePath(dbURL)
		if path == "" {
			return nil, "", fmt.Errorf("sqlstore: %q: missing file path (sqlite://tagcast.db or sqlite:///var/lib/tagcast.db)", dbURL)
		}
		q := url.Values{}
		q.Set("_txlock", "immediate")
		q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
		q.Set("_foreign_keys", "1")
		if path != ":memory:" {
			q.Set("_journal_mode", "WAL")
			// FULL, not WAL's usual NORMAL: under NORMAL a commit may roll
			// back after a power loss or OS crash, and the commits made
			// before a push call (the send's claim, its quota ledger row)
			// must survive one, or the send comes back pending and goes out
			// twice. PostgreSQL syncs every commit too.
			q.Set("_synchronous", "FULL")
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		db, err := sql.Open("sqlite", path+sep+q.Encode())
		if err != nil {
			return nil, "", fmt.Errorf("sqlstore: open %s: %w", dbURL, err)
		}
		// One connection: SQLite has one writer anyway, an in-memory database
		// lives and dies with its connection, and it rules out SQLITE_BUSY
		// between connections of the same process. Other processes are
		// serialised by BEGIN IMMEDIATE and busy_timeout.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, migrations.SQLite, nil
	default:
		return nil, "", fmt.Errorf("sqlstore: database url %q: want a postgres://, postgresql://, sqlite:// or sqlite::memory: url", redact(dbURL))
	}
}

// defaultConnectTimeout bounds each new PostgreSQL connection, startup and
// authentication included, when the URL sets no connect_timeout: without
// one, a host that accepts the connection and never answers (a hung server,
// a black-holed port behind a proxy) blocks the opening ping, and every
// later statement that needs a new connection, for ever.
var defaultConnectTimeout = 10 * time.Second

// withConnectTimeout adds connect_timeout (whole seconds, as libpq reads
// it) to a postgres:// URL that has none; the operator's value wins. It
// works on the text, so that URLs with several hosts keep their form.
func withConnectTimeout(dbURL string) string {
	base, fragment, hasFragment := strings.Cut(dbURL, "#")
	_, query, hasQuery := strings.Cut(base, "?")
	if q, err := url.ParseQuery(query); err == nil && q.Has("connect_timeout") {
		return dbURL
	}
	sep := "?"
	if hasQuery {
		sep = "&"
		if query == "" {
			sep = ""
		}
	}
	out := base + sep + "connect_timeout=" + fmt.Sprint(int(defaultConnectTimeout.Seconds()))
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// redact is dbURL fit for an error message: config.RedactURL hides the
// password wherever it is given (user information or ?password=).
func redact(dbURL string) string { return config.RedactURL(dbURL) }

// Migrate applies every pending migration, one process at a time, and
// fails with a *migrations.SchemaTooNewError on a database a newer tagcast
// migrated: this one's queries would meet a schema they do not know.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := migrations.Up(ctx, s.db, s.dialect)
	return err
}

// ClaimantName is how a tagcast process on this host with process id pid
// names itself in its claims: host:pid.
func ClaimantName(pid int) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s:%d", host, pid)
}

// SetClaimant names this process (host:pid for a worker) in the sends it
// claims from now on. Call it before the store is shared.
func (s *Store) SetClaimant(name string) { s.claimant = name }

// Claimant is the name SetClaimant gave this process ("" if none).
func (s *Store) Claimant() string { return s.claimant }

// DB is the underlying handle (for migrations, tests and benchmarks).
func (s *Store) DB() *sql.DB { return s.db }

// Dialect names the database kind.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// Identity is the store's identity: a random id its migrations drew once
// (table store_identity). Processes on a shared Redis mark it there, so
// that two stores never share one Redis database.
func (s *Store) Identity(ctx context.Context) (string, error) {
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM store_identity`).Scan(&id); err != nil {
		return "", fmt.Errorf("sqlstore: read the store's identity: %w", err)
	}
	return id, nil
}

// Reidentify draws a new identity for the store on db and returns the old
// and the new one. A copy of a store (a backup restored for staging, a
// copied SQLite file) keeps the original's identity, and so could share
// its Redis database unrefused: reidentify the copy before its first start.
func Reidentify(ctx context.Context, db *sql.DB, d migrations.Dialect) (oldID, newID string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	newID = hex.EncodeToString(b[:])
	// The read locks the row (PostgreSQL; SQLite's writer lock refuses the
	// later of two at its write): two reidentifies at once must not both
	// report replacing the same identity.
	read, update := `SELECT id FROM store_identity`, `UPDATE store_identity SET id = ?`
	if d == migrations.Postgres {
		read, update = `SELECT id FROM store_identity FOR UPDATE`, `UPDATE store_identity SET id = $1`
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("draw a new identity: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	switch err := tx.QueryRowContext(ctx, read).Scan(&oldID); {
	case errors.Is(err, sql.ErrNoRows):
		return "", "", errors.New("the store has no identity yet: run `tagcast migrate up` first")
	case err != nil:
		return "", "", fmt.Errorf("read the store's identity (run `tagcast migrate up` first): %w", err)
	}
	if _, err := tx.ExecContext(ctx, update, newID); err != nil {
		return "", "", fmt.Errorf("draw a new identity: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", "", fmt.Errorf("draw a new identity: %w", err)
	}
	return oldID, newID, nil
}

// Close closes the database handle.
func (s *Store) Close() error { return s.db.Close() }
