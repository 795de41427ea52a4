// Package migrations holds tagcast's database schema as numbered SQL files
// per dialect (postgres/*.sql, sqlite/*.sql), embedded in the binary, and
// runs them with goose's provider API (no goose globals).
//
// It never holds application queries: those live in campaign/sqlstore.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
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

// NewProvider returns a goose provider for db. On PostgreSQL it takes a
// session advisory lock, so replicas starting together migrate one at a time.
func NewProvider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, err
	}
	gd := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if d == Postgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Result is one applied or rolled-back migration.
type Result struct {
	Version  int64
	Name     string
	Duration string
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

// Up applies every pending migration.
func Up(ctx context.Context, db *sql.DB, d Dialect) ([]Result, error) {
	p, err := NewProvider(db, d)
	if err != nil {
		return nil, err
	}
	rs, err := p.Up(ctx)
	if err != nil {
		return results(rs...), fmt.Errorf("migrations: up: %w", err)
	}
	return results(rs...), nil
}

// Down rolls back the most recent migration.
func Down(ctx context.Context, db *sql.DB, d Dialect) ([]Result, error) {
	p, err := NewProvider(db, d)
	if err != nil {
		return nil, err
	}
	r, err := p.Down(ctx)
	if err != nil {
		return results(r), fmt.Errorf("migrations: down: %w", err)
	}
	return results(r), nil
}

// Reset rolls back every migration.
func Reset(ctx context.Context, db *sql.DB, d Dialect) ([]Result, error) {
	p, err := NewProvider(db, d)
	if err != nil {
		return nil, err
	}
	rs, err := p.DownTo(ctx, 0)
	if err != nil {
		return results(rs...), fmt.Errorf("migrations: reset: %w", err)
	}
	return results(rs...), nil
}

// MigrationStatus is one migration and whether it is applied.
type MigrationStatus struct {
	Version   int64  `json:"version"`
	Name      string `json:"name"`
	Applied   bool   `json:"applied"`
	AppliedAt string `json:"applied_at,omitempty"`
}

// Status lists every migration and whether it is applied.
func Status(ctx context.Context, db *sql.DB, d Dialect) ([]MigrationStatus, error) {
	p, err := NewProvider(db, d)
	if err != nil {
		return nil, err
	}
	ss, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(ss))
	for _, s := range ss {
		m := MigrationStatus{Version: s.Source.Version, Name: s.Source.Path, Applied: s.State == goose.StateApplied}
		if m.Applied {
			m.AppliedAt = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, m)
	}
	return out, nil
}
