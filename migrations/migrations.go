// Package migrations holds tagcast's database schema as numbered SQL files
// per dialect (postgres/*.sql, sqlite/*.sql), embedded in the binary, and
// runs them with goose's provider API (no goose globals).
//
// One process migrates a database at a time: PostgreSQL through goose's
// session advisory lock, a SQLite file through a flock on
// <file>.migrate.lock. A binary never migrates, nor runs against, a schema
// newer than the newest migration it embeds, and Down never drops tables
// that hold rows, nor drops or rewrites columns that hold values, unless
// told to.
//
// It never holds application queries: those live in campaign/sqlstore.
package migrations

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tagcast/tagcast/internal/filelock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect selects the SQL files and goose's dialect.
type Dialect string

// Dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// FS returns the migration files of one dialect.
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(files, string(d))
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q (postgres or sqlite)", d)
	}
}

// versionTable is goose's version table (goose's default name): one row per
// applied version, version 0 inserted when goose creates it.
const versionTable = "goose_db_version"

// newProvider returns a goose provider for db. On PostgreSQL it takes a
// session advisory lock around each operation, so replicas starting
// together migrate one at a time; on SQLite, run holds a file lock instead.
// It returns the PostgreSQL lock too (nil on SQLite).
func newProvider(db *sql.DB, d Dialect) (*goose.Provider, *pgLocker, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, nil, err
	}
	gd := goose.DialectSQLite3
	var (
		opts   []goose.ProviderOption
		locker *pgLocker
	)
	if d == Postgres {
		gd = goose.DialectPostgres
		unlocker, err := lock.NewPostgresSessionLocker(lock.WithLockID(pgLockID))
		if err != nil {
			return nil, nil, fmt.Errorf("migrations: %w", err)
		}
		locker = &pgLocker{SessionLocker: unlocker, retry: pgLockRetry, timeout: pgLockTimeout}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return p, locker, nil
}

// goose's session advisory lock on PostgreSQL, as pgLocker takes it.
const (
	pgLockID = lock.DefaultLockID
	// Tried every second (goose's default: every 5 s) for up to 5
	// minutes: replicas started together are ready within about a second
	// of each other.
	pgLockRetry   = time.Second
	pgLockTimeout = 5 * time.Minute
)

// pgLocker takes goose's session advisory lock as goose's own locker does
// (pg_try_advisory_lock, retried), and releases it with goose's locker
// (the embedded SessionLocker). When it gives up waiting (ctx ended, or
// timeout passed) it returns a *LockWaitError naming the lock and the
// server process holding it, where goose's error said only "context
// deadline exceeded".
type pgLocker struct {
	lock.SessionLocker
	retry, timeout time.Duration

	mu   sync.Mutex
	then func(ctx context.Context, conn *sql.Conn) error // see runNext
}

// runNext makes the next SessionLock run fn once the lock is taken, on the
// locked connection, before goose's operation reads anything; an error of
// fn releases the lock and is SessionLock's. Nil disarms it.
func (l *pgLocker) runNext(fn func(ctx context.Context, conn *sql.Conn) error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.then = fn
}

// SessionLock takes the lock on conn's session.
func (l *pgLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	start := time.Now()
	held := false // another session held the lock at a try
	var pid int64 // its server process, 0 when unknown
	wait := func(err error) error {
		return &LockWaitError{LockID: pgLockID, Holder: pid, Waited: time.Since(start), Err: err}
	}
	for {
		var locked bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, pgLockID).Scan(&locked); err != nil {
			if held {
				return wait(err)
			}
			return fmt.Errorf("take the migration lock (PostgreSQL advisory lock %d): %w", pgLockID, err)
		}
		if locked {
			l.mu.Lock()
			then := l.then
			l.then = nil
			l.mu.Unlock()
			if then == nil {
				return nil
			}
			if err := then(ctx, conn); err != nil {
				return errors.Join(err, l.SessionUnlock(context.WithoutCancel(ctx), conn))
			}
			return nil
		}
		held = true
		// Who holds it (best effort: it may have gone meanwhile). An
		// advisory lock on a bigint key is in pg_locks as classid (its
		// high 32 bits), objid (its low ones) and objsubid 1, in the
		// database it was taken in.
		var holder int64
		if err := conn.QueryRowContext(ctx, `SELECT pid FROM pg_catalog.pg_locks
			WHERE locktype = 'advisory' AND granted AND objsubid = 1
			  AND ((classid::bigint << 32) | objid::bigint) = $1
			  AND database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
			  AND pid <> pg_backend_pid()
			LIMIT 1`, pgLockID).Scan(&holder); err == nil {
			pid = holder
		}
		if time.Since(start) >= l.timeout {
			return wait(fmt.Errorf("still held after %s: gave up", l.timeout))
		}
		t := time.NewTimer(l.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return wait(context.Cause(ctx))
		case <-t.C:
		}
	}
}

// LockWaitError is the failure of a PostgreSQL migration that waited for
// the migration lock another process held (another tagcast migrating,
// possibly through a long step) until its context ended or it gave up.
type LockWaitError struct {
	LockID int64         // the advisory lock's key
	Holder int64         // the server process (pg_stat_activity.pid) holding it at the last try; 0 when unknown
	Waited time.Duration // how long it waited
	Err    error         // why it stopped waiting: the context's error, or the timeout
}

func (e *LockWaitError) Error() string {
	by := ""
	if e.Holder != 0 {
		by = fmt.Sprintf(", held by PostgreSQL server process %d", e.Holder)
	}
	return fmt.Sprintf("waited %s for another tagcast process's migration lock (PostgreSQL advisory lock %d%s): %v",
		e.Waited.Round(100*time.Millisecond), e.LockID, by, e.Err)
}

func (e *LockWaitError) Unwrap() error { return e.Err }

// opError is err, of the operation what, for the caller: a *LockWaitError
// without what goose and the step said around it ("read the schema
// version: failed to initialize: ..."): the step never began.
func opError(what string, err error) error {
	if lw := (*LockWaitError)(nil); errors.As(err, &lw) {
		return fmt.Errorf("migrations: %s: %w", what, lw)
	}
	return fmt.Errorf("migrations: %s: %w", what, err)
}

// run calls fn with a provider for db. On a SQLite file it holds an
// exclusive flock on <file>.migrate.lock meanwhile, waiting for another
// process's migration to finish first (until ctx ends): goose reads the
// version and applies migrations in separate transactions, so two
// processes migrating a new file together would both apply migration 1.
// An in-memory SQLite database is private to its connection and needs no
// lock; PostgreSQL has goose's session lock (newProvider).
func run(ctx context.Context, db *sql.DB, d Dialect, fn func(p *goose.Provider, l *pgLocker) error) (err error) {
	p, l, err := newProvider(db, d)
	if err != nil {
		return err
	}
	if d == SQLite {
		unlock, lerr := lockSQLiteFile(ctx, db)
		if lerr != nil {
			return lerr
		}
		defer func() {
			if uerr := unlock(); uerr != nil {
				err = errors.Join(err, fmt.Errorf("migrations: unlock: %w", uerr))
			}
		}()
	}
	return fn(p, l)
}

// lockSQLiteFile takes the migration lock beside db's main database file
// (SQLite names it absolute); a no-op for an in-memory database.
func lockSQLiteFile(ctx context.Context, db *sql.DB) (func() error, error) {
	var file string
	if err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		return nil, fmt.Errorf("migrations: find the database file: %w", err)
	}
	if file == "" {
		return func() error { return nil }, nil // in memory
	}
	unlock, err := filelock.Lock(ctx, file+".migrate.lock")
	if err != nil {
		return nil, fmt.Errorf("migrations: lock %s against concurrent migrations: %w", file, err)
	}
	return unlock, nil
}

// SchemaTooNewError is the refusal of a binary to migrate, or run against,
// a database on which a newer tagcast applied migrations this one does not
// embed (a rolled-back deploy): its queries would meet a schema it does not
// know.
type SchemaTooNewError struct {
	Version int64 // the database's schema version
	Known   int64 // the newest migration this binary embeds
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema is at version %d, this tagcast knows up to %d: upgrade tagcast", e.Version, e.Known)
}

// newestKnown is the version of the newest migration p embeds.
func newestKnown(p *goose.Provider) int64 {
	var v int64
	for _, s := range p.ListSources() {
		v = max(v, s.Version)
	}
	return v
}

// refuseNewer returns a *SchemaTooNewError when the database's version is
// ahead of the newest migration p embeds. It creates goose's version table
// on a new database.
func refuseNewer(ctx context.Context, p *goose.Provider) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	if known := newestKnown(p); v > known {
		return &SchemaTooNewError{Version: v, Known: known}
	}
	return nil
}

// Result is one applied or rolled-back migration.
type Result struct {
	Version  int64  `json:"version"`
	Name     string `json:"name"`
	Duration string `json:"duration"`
}

func results(rs ...*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(rs))
	for _, r := range rs {
		if r == nil || r.Source == nil {
			continue
		}
		out = append(out, Result{Version: r.Source.Version, Name: r.Source.Path, Duration: r.Duration.String()})
	}
	return out
}

// Up applies every pending migration. It refuses with a *SchemaTooNewError,
// and applies nothing, when the database is at a version newer than this
// binary embeds.
func Up(ctx context.Context, db *sql.DB, d Dialect) ([]Result, error) {
	return migrate(ctx, db, d, "up", func(p *goose.Provider, _ *pgLocker) ([]*goose.MigrationResult, error) {
		return p.Up(ctx)
	})
}

// migrate runs op on db under the migration lock (run), after refusing a
// schema newer than this binary; what names the operation in errors.
func migrate(ctx context.Context, db *sql.DB, d Dialect, what string, op func(p *goose.Provider, l *pgLocker) ([]*goose.MigrationResult, error)) ([]Result, error) {
	var out []Result
	err := run(ctx, db, d, func(p *goose.Provider, l *pgLocker) error {
		if err := refuseNewer(ctx, p); err != nil {
			return opError(what, err)
		}
		rs, err := op(p, l)
		out = results(rs...)
		if err != nil {
			return opError(what, err)
		}
		// Once more after op: on PostgreSQL, goose takes its lock for the
		// version read and again for op, and a newer tagcast that migrated
		// in between left op nothing to do (SQLite holds one file lock over
		// both). Without this look, Up returned nil on a schema this binary
		// does not know.
		if err := refuseNewer(ctx, p); err != nil {
			return opError(what, err)
		}
		return nil
	})
	return out, err
}

// DataLoss says whether Down may drop or rewrite data: drop tables that
// hold rows or columns that hold values, or rewrite the values of a column
// whose type it changes.
type DataLoss bool

// Down's choices.
const (
	// KeepData refuses a step that would drop tables holding rows, or drop
	// or change the type of columns holding values.
	KeepData DataLoss = false
	// DropData rolls back whatever the tables hold, dropping or rewriting
	// it.
	DropData DataLoss = true
)

// ErrNothingToRollBack is Down's answer on a database with no migration
// applied.
var ErrNothingToRollBack = errors.New("nothing to roll back: the database is at version 0")

// Down rolls back the most recent migration. With KeepData it refuses with
// a *DataLossError, and rolls back nothing, when that step would drop
// tables that hold rows or columns that hold values, or change the type of
// columns that hold values (on PostgreSQL, rolling back 00007 casts the
// JSON columns back to jsonb, which rewrites their numbers for good). It
// refuses with a *SchemaTooNewError on a database newer than this binary,
// and returns ErrNothingToRollBack when no migration is applied.
//
// The step checked is the step rolled back: the check runs under the
// migration lock (on PostgreSQL, goose's, on its connection, once goose
// has taken it for the step). Rows are counted just before the step: a row
// inserted in between is dropped with its table.
func Down(ctx context.Context, db *sql.DB, d Dialect, data DataLoss) ([]Result, error) {
	return migrate(ctx, db, d, "down", func(p *goose.Provider, l *pgLocker) ([]*goose.MigrationResult, error) {
		if data == KeepData {
			if l == nil { // SQLite: run holds the file lock over this and the step
				if err := refuseDataLoss(ctx, db, d, p); err != nil {
					return nil, err
				}
			} else {
				// Not before goose's own lock: a `migrate down` in between
				// would leave goose to roll back the step below, unchecked
				// (found by a review).
				l.runNext(func(ctx context.Context, conn *sql.Conn) error { return refuseDataLoss(ctx, conn, d, p) })
				defer l.runNext(nil)
			}
		}
		r, err := p.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			return nil, ErrNothingToRollBack
		}
		if dl, ok := errors.AsType[*DataLossError](err); ok {
			return nil, dl // without goose's "failed to initialize"
		}
		return []*goose.MigrationResult{r}, err
	})
}

// Reset rolls back every migration, whatever the tables hold (for tests).
// The store's identity stays (00008's Down keeps store_identity).
func Reset(ctx context.Context, db *sql.DB, d Dialect) ([]Result, error) {
	return migrate(ctx, db, d, "reset", func(p *goose.Provider, _ *pgLocker) ([]*goose.MigrationResult, error) {
		return p.DownTo(ctx, 0)
	})
}

// TableRows is a table and how many rows it holds; with Column, how many
// of its rows hold a value (not NULL) in that column, which the step drops,
// or with CastTo too, which the step keeps but casts to that type,
// rewriting every value.
type TableRows struct {
	Table  string
	Column string
	CastTo string
	Rows   int64
}

// DataLossError is Down's refusal of a step that would drop tables holding
// rows, or drop or rewrite columns holding values.
type DataLossError struct {
	Migration string      // the migration file the step rolls back
	Tables    []TableRows // the tables and columns it drops or rewrites that hold data
}

// Drops says whether the step drops data (tables or columns), Rewrites
// whether it rewrites values (columns it casts to another type).
func (e *DataLossError) Drops() bool {
	return slices.ContainsFunc(e.Tables, func(t TableRows) bool { return t.CastTo == "" })
}

// Rewrites: see Drops.
func (e *DataLossError) Rewrites() bool {
	return slices.ContainsFunc(e.Tables, func(t TableRows) bool { return t.CastTo != "" })
}

func (e *DataLossError) Error() string {
	var tables, columns, casts []string
	jsonb := false
	for _, t := range e.Tables {
		unit := "rows"
		if t.Rows == 1 {
			unit = "row"
		}
		switch {
		case t.CastTo != "":
			casts = append(casts, fmt.Sprintf("%s.%s to %s (a value in %d %s)", t.Table, t.Column, t.CastTo, t.Rows, unit))
			jsonb = jsonb || strings.EqualFold(t.CastTo, "jsonb")
		case t.Column != "":
			columns = append(columns, fmt.Sprintf("%s.%s (a value in %d %s)", t.Table, t.Column, t.Rows, unit))
		default:
			tables = append(tables, fmt.Sprintf("%s (%d %s)", t.Table, t.Rows, unit))
		}
	}
	var lost []string
	if len(tables) > 0 {
		lost = append(lost, "tables that hold rows: "+strings.Join(tables, ", "))
	}
	if len(columns) > 0 {
		lost = append(lost, "columns that hold values: "+strings.Join(columns, ", "))
	}
	var does []string
	if len(lost) > 0 {
		does = append(does, "drop "+strings.Join(lost, "; and "))
	}
	if len(casts) > 0 {
		rewrite := "rewrite columns that hold values, casting every value: " + strings.Join(casts, ", ")
		if jsonb {
			rewrite += " (jsonb keeps no number as written: 1E+2 becomes 100, 1e308 a 309-digit integer, " +
				"and migrating up again does not bring the text back)"
		}
		does = append(does, rewrite)
	}
	return fmt.Sprintf("rolling back %s would %s", e.Migration, strings.Join(does, "; and would "))
}

// refuseDataLoss returns a *DataLossError when rolling back the migration
// goose would roll back next (the newest row of its version table) drops
// tables that hold rows, or drops or changes the type of columns that hold
// values.
func refuseDataLoss(ctx context.Context, db querier, d Dialect, p *goose.Provider) error {
	var v int64
	err := db.QueryRowContext(ctx, `SELECT version_id FROM `+versionTable+` ORDER BY id DESC LIMIT 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && v == 0) {
		return nil // nothing to roll back; Down says so
	}
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	i := slices.IndexFunc(p.ListSources(), func(s *goose.Source) bool { return s.Version == v })
	if i < 0 {
		return nil // not embedded: goose refuses the step
	}
	src := p.ListSources()[i]
	fsys, err := FS(d)
	if err != nil {
		return err
	}
	text, err := fs.ReadFile(fsys, src.Path)
	if err != nil {
		return fmt.Errorf("read %s: %w", src.Path, err)
	}
	var held []TableRows
	spare := expendableTables(string(text))
	for _, table := range droppedTables(string(text)) {
		if spare[table] {
			continue
		}
		n, exists, err := countRows(ctx, db, d, table)
		if err != nil {
			return fmt.Errorf("%s drops %s: count its rows: %w", src.Path, table, err)
		}
		if exists && n > 0 {
			held = append(held, TableRows{Table: table, Rows: n})
		}
	}
	for _, col := range droppedColumns(string(text)) {
		n, exists, err := countValues(ctx, db, d, col.Table, col.Column)
		if err != nil {
			return fmt.Errorf("%s drops %s.%s: count its values: %w", src.Path, col.Table, col.Column, err)
		}
		if exists && n > 0 {
			held = append(held, TableRows{Table: col.Table, Column: col.Column, Rows: n})
		}
	}
	for _, col := range castColumns(string(text)) {
		n, exists, err := countValues(ctx, db, d, col.Table, col.Column)
		if err != nil {
			return fmt.Errorf("%s casts %s.%s to %s: count its values: %w", src.Path, col.Table, col.Column, col.CastTo, err)
		}
		if exists && n > 0 {
			col.Rows = n
			held = append(held, col)
		}
	}
	if len(held) > 0 {
		return &DataLossError{Migration: src.Path, Tables: held}
	}
	return nil
}

var (
	gooseUp      = regexp.MustCompile(`(?m)^--\s*\+goose\s+Up\b`)
	gooseDown    = regexp.MustCompile(`(?m)^--\s*\+goose\s+Down\b`)
	sqlComment   = regexp.MustCompile(`--[^\n]*`)
	dropTable    = regexp.MustCompile(`(?i)\bDROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([^;]+)`)
	dropModifier = regexp.MustCompile(`(?i)\s+(CASCADE|RESTRICT)\s*$`)
	dropColumn   = regexp.MustCompile(`(?i)\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?("[^"]+"|[\w.]+)\s+DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?("[^"]+"|\w+)`)
	expendable   = regexp.MustCompile(`(?m)^--\s*tagcast:expendable\s+("[^"]+"|[\w.]+)\.("[^"]+"|\w+)`)
	// A whole table (no column): -- tagcast:expendable app_keys (reason).
	expendableTable = regexp.MustCompile(`(?m)^--\s*tagcast:expendable\s+("[^"]+"|\w+)\s*(?:\(|$)`)
	makesTable      = regexp.MustCompile(`(?i)\b(?:CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?|RENAME\s+TO\s+)("[^"]+"|[\w.]+)`)
	alterTable      = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?("[^"]+"|[\w.]+)\s+(.*)$`)
	alterType       = regexp.MustCompile(`(?is)\bALTER\s+(?:COLUMN\s+)?("[^"]+"|\w+)\s+(?:SET\s+DATA\s+)?TYPE\s+((?:[^,(]|\([^)]*\))+?)\s*(?:\bCOLLATE\b|\bUSING\b|,|$)`)
)

// droppedTables are the tables the Down section of a migration file drops
// (DROP TABLE a, b;), less those it creates again or renames another table
// to (SQLite's rebuild of a table keeps its rows).
func droppedTables(migration string) []string {
	down := sqlComment.ReplaceAllString(downSection(migration), "")
	remade := map[string]bool{}
	for _, m := range makesTable.FindAllStringSubmatch(down, -1) {
		remade[unquote(m[1])] = true
	}
	var out []string
	for _, m := range dropTable.FindAllStringSubmatch(down, -1) {
		for _, name := range strings.Split(dropModifier.ReplaceAllString(strings.TrimSpace(m[1]), ""), ",") {
			if name = unquote(strings.TrimSpace(name)); name != "" && !remade[name] && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

// expendableTables are the tables a line of the Down section of a
// migration file marks expendable (-- tagcast:expendable table, with the
// reason: data no promise of the older schema rests on): dropped without
// --force whatever rows they hold.
func expendableTables(migration string) map[string]bool {
	out := map[string]bool{}
	for _, m := range expendableTable.FindAllStringSubmatch(downSection(migration), -1) {
		out[unquote(m[1])] = true
	}
	return out
}

// downSection is the Down section of a migration file, comments kept.
func downSection(migration string) string {
	loc := gooseDown.FindStringIndex(migration)
	if loc == nil {
		return ""
	}
	down := migration[loc[1]:]
	if up := gooseUp.FindStringIndex(down); up != nil {
		down = down[:up[0]]
	}
	return down
}

// downSkipping is the Down section of a migration file, and what the
// column checks skip in it: the columns a line marks expendable
// ("table.column") and the tables it drops whole ("table": droppedTables
// counts their rows).
func downSkipping(migration string) (string, map[string]bool) {
	down := downSection(migration)
	skip := map[string]bool{}
	for _, m := range expendable.FindAllStringSubmatch(down, -1) {
		skip[unquote(m[1])+"."+unquote(m[2])] = true
	}
	for _, t := range droppedTables(migration) {
		skip[t] = true
	}
	return down, skip
}

// droppedColumns are the columns the Down section of a migration file
// drops (ALTER TABLE t DROP COLUMN c, one per statement), less those of
// tables it drops whole
// (droppedTables counts their rows) and those a line of the section marks
// expendable (-- tagcast:expendable table.column, with the reason: data
// no promise rests on, such as a diagnostic).
func droppedColumns(migration string) []TableRows {
	down, skip := downSkipping(migration)
	down = sqlComment.ReplaceAllString(down, "")
	var out []TableRows
	for _, m := range dropColumn.FindAllStringSubmatch(down, -1) {
		table, column := unquote(m[1]), unquote(m[2])
		if strings.EqualFold(column, "CONSTRAINT") || skip[table] || skip[table+"."+column] {
			continue
		}
		if !slices.Contains(out, TableRows{Table: table, Column: column}) {
			out = append(out, TableRows{Table: table, Column: column})
		}
	}
	return out
}

// castColumns are the columns whose type the Down section of a migration
// file changes (ALTER TABLE t ALTER [COLUMN] c [SET DATA] TYPE x, any
// number per statement), each with the type, CastTo: the cast rewrites
// every value, as the cast back to jsonb of PostgreSQL's 00007 rewrites
// the numbers of JSON kept as written. Less those of tables it drops whole
// and those a line of the section marks expendable, as droppedColumns.
func castColumns(migration string) []TableRows {
	down, skip := downSkipping(migration)
	var out []TableRows
	for _, stmt := range strings.Split(sqlComment.ReplaceAllString(down, ""), ";") {
		m := alterTable.FindStringSubmatch(stmt)
		if m == nil {
			continue
		}
		table := unquote(m[1])
		for _, c := range alterType.FindAllStringSubmatch(m[2], -1) {
			column := unquote(c[1])
			if skip[table] || skip[table+"."+column] || slices.ContainsFunc(out, func(t TableRows) bool { return t.Table == table && t.Column == column }) {
				continue
			}
			out = append(out, TableRows{Table: table, Column: column, CastTo: strings.Join(strings.Fields(c[2]), " ")})
		}
	}
	return out
}

func unquote(name string) string { return strings.ReplaceAll(name, `"`, "") }

// querier is a *sql.DB or a *sql.Conn.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// countRows counts the rows of table, if it exists.
func countRows(ctx context.Context, db querier, d Dialect, table string) (n int64, exists bool, err error) {
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d == Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_class WHERE oid = to_regclass($1)`
	}
	var found int
	if err := db.QueryRowContext(ctx, q, table).Scan(&found); err != nil {
		return 0, false, err
	}
	if found == 0 {
		return 0, false, nil
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(table)).Scan(&n); err != nil {
		return 0, true, err
	}
	return n, true, nil
}

// countValues counts the rows of table holding a value (not NULL) in
// column, if both exist.
func countValues(ctx context.Context, db querier, d Dialect, table, column string) (n int64, exists bool, err error) {
	q := `SELECT count(*) FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table' AND m.name = ? AND c.name = ?`
	if d == Postgres {
		q = `SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND attnum > 0 AND NOT attisdropped`
	}
	var found int
	if err := db.QueryRowContext(ctx, q, table, column).Scan(&found); err != nil {
		return 0, false, err
	}
	if found == 0 {
		return 0, false, nil
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(table)+` WHERE `+quoteIdent(column)+` IS NOT NULL`).Scan(&n); err != nil {
		return 0, true, err
	}
	return n, true, nil
}

// quoteIdent quotes a table name, schema-qualified or not, for both
// dialects.
func quoteIdent(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, ".")
}

// MigrationStatus is one migration and whether it is applied. Unknown marks
// a version applied in the database that this binary does not embed (a
// newer tagcast applied it): Name is then empty.
type MigrationStatus struct {
	Version   int64  `json:"version"`
	Name      string `json:"name"`
	Applied   bool   `json:"applied"`
	AppliedAt string `json:"applied_at,omitempty"`
	Unknown   bool   `json:"unknown,omitempty"`
}

// Status lists every migration this binary embeds and whether it is
// applied, then every version applied in the database that it does not
// embed, marked Unknown; in version order. AppliedAt is UTC.
func Status(ctx context.Context, db *sql.DB, d Dialect) ([]MigrationStatus, error) {
	var out []MigrationStatus
	err := run(ctx, db, d, func(p *goose.Provider, _ *pgLocker) error {
		ss, err := p.Status(ctx) // creates the version table on a new database
		if err != nil {
			return opError("status", err)
		}
		applied, err := appliedVersions(ctx, db, d)
		if err != nil {
			return fmt.Errorf("migrations: status: %w", err)
		}
		for _, s := range ss {
			m := MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied}
			if m.Applied {
				m.AppliedAt = formatAppliedAt(applied[m.Version])
			}
			delete(applied, m.Version)
			out = append(out, m)
		}
		for v, at := range applied {
			out = append(out, MigrationStatus{Version: v, Applied: true, AppliedAt: formatAppliedAt(at), Unknown: true})
		}
		slices.SortFunc(out, func(a, b MigrationStatus) int { return cmp.Compare(a.Version, b.Version) })
		return nil
	})
	return out, err
}

func formatAppliedAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// appliedVersions are the versions in the version table (but 0), each with
// when it was applied (the latest row's time).
//
// goose's PostgreSQL table stores tstamp as a timestamp without time zone
// defaulting to now(): the wall clock of the inserting session's TimeZone
// (initdb sets the server's default from the host). Cast to timestamptz, it
// is read back in this session's TimeZone, which is the server's default
// unless a client overrides it. SQLite's default is datetime('now'), UTC.
func appliedVersions(ctx context.Context, db *sql.DB, d Dialect) (map[int64]time.Time, error) {
	q := `SELECT version_id, tstamp FROM ` + versionTable + ` WHERE version_id > 0 ORDER BY id`
	if d == Postgres {
		q = `SELECT version_id, tstamp::timestamptz FROM ` + versionTable + ` WHERE version_id > 0 ORDER BY id`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[int64]time.Time{}
	for rows.Next() {
		var v int64
		var at sql.NullTime
		if err := rows.Scan(&v, &at); err != nil {
			return nil, err
		}
		out[v] = at.Time
	}
	return out, rows.Err()
}
