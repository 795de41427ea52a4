package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/internal/filelock"
	"github.com/tagcast/tagcast/migrations"
)

// newMigrateCmd is `tagcast migrate up|down|status|reidentify`: the embedded schema
// migrations on the configured database (database.url, TAGCAST_DATABASE_URL,
// or --database).
func newMigrateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "apply, roll back or list the database schema migrations",
		Args:  cobra.NoArgs,
		RunE:  requireSubcommand,
	}
	var database string
	cmd.PersistentFlags().StringVar(&database, "database", "", "database URL (default: database.url from the config / TAGCAST_DATABASE_URL)")

	run := func(name, short string, fn func(ctx context.Context, w io.Writer, db *dbHandle) error) *cobra.Command {
		return &cobra.Command{
			Use:   name,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				cfg, err := g.loadClientConfig(bindFlags(c, map[string]string{"database": "database.url"}))
				if err != nil {
					return err
				}
				// Only up may create a SQLite file: status or down on a
				// mistyped path would create an empty database and report
				// it unmigrated.
				if file := sqlstore.SQLiteFileOf(cfg.Database.URL); name != "up" && file != "" {
					if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
						return &exitError{code: 1, err: fmt.Errorf("database.url: no SQLite database at %s (nothing created; `tagcast migrate up` creates one)", file)}
					}
				} else if file != "" {
					// up creates the file, not its directory: SQLite's own
					// error names neither ("unable to open database file").
					if err := sqliteDirExists(file); err != nil {
						return &exitError{code: 1, err: err}
					}
				}
				db, dialect, err := sqlstore.OpenDB(cfg.Database.URL)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				defer func() { _ = db.Close() }()
				h := &dbHandle{db: db, dialect: dialect, file: sqlstore.SQLiteFileOf(cfg.Database.URL), json: g.output == "json"}
				if err := fn(c.Context(), c.OutOrStdout(), h); err != nil {
					return &exitError{code: 1, err: err}
				}
				return nil
			},
		}
	}
	var force bool
	down := run("down", "roll back the most recent migration", func(ctx context.Context, w io.Writer, h *dbHandle) error {
		data := migrations.KeepData
		if force {
			data = migrations.DropData
		}
		res, err := migrations.Down(ctx, h.db, h.dialect, data)
		if dl := (*migrations.DataLossError)(nil); errors.As(err, &dl) {
			verb := "drop them"
			switch {
			case dl.Drops() && dl.Rewrites():
				verb = "drop and rewrite them"
			case dl.Rewrites():
				verb = "rewrite them"
			}
			return fmt.Errorf("%w; nothing rolled back. Back the database up and rerun with --force to %s", err, verb)
		}
		if err != nil && len(res) == 0 {
			return err // not "nothing rolled back": nothing could be checked
		}
		if perr := h.printResults(w, "rolled back", res); perr != nil && err == nil {
			err = perr
		}
		return err
	})
	down.Long = "Roll back the most recent migration. Rolling back the first one drops every table: when a step\n" +
		"would drop tables that hold rows (campaigns, runs, sends, the quota ledger) or columns that hold\n" +
		"values (the campaigns' idempotency keys), or rewrite columns that hold values (on PostgreSQL,\n" +
		"rolling back 00007 casts the campaigns' push and vars and the sends' body back to jsonb, which\n" +
		"rewrites their numbers for good), down refuses, names them with their counts and exits 1, unless\n" +
		"--force is given. With no migration applied it exits 1 saying there is nothing to roll back."
	down.Flags().BoolVar(&force, "force", false, "roll back even when the step drops tables that hold rows or columns that hold values, or rewrites columns that hold values (their data, or its text as written, is lost)")
	cmd.AddCommand(
		run("up", "apply every pending migration", func(ctx context.Context, w io.Writer, h *dbHandle) error {
			res, err := migrations.Up(ctx, h.db, h.dialect)
			if err != nil && len(res) == 0 {
				return err // not "nothing applied": nothing could be checked
			}
			if perr := h.printResults(w, "applied", res); perr != nil && err == nil {
				err = perr
			}
			return err
		}),
		down,
		reidentify(run),
		renameApp(run),
		run("status", "list the migrations, whether each is applied, and any applied version this tagcast does not know", func(ctx context.Context, w io.Writer, h *dbHandle) error {
			st, err := migrations.Status(ctx, h.db, h.dialect)
			if err != nil {
				return err
			}
			if h.json {
				return writeJSON(w, st)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED\tAPPLIED AT")
			for _, s := range st {
				name := s.Name
				if s.Unknown {
					name = "(unknown to this tagcast: upgrade it)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%v\t%s\n", s.Version, name, s.Applied, s.AppliedAt)
			}
			return tw.Flush()
		}),
	)
	return cmd
}

// migrateRunner makes a migrate subcommand whose fn runs on the open
// database (newMigrateCmd's run).
type migrateRunner = func(name, short string, fn func(ctx context.Context, w io.Writer, db *dbHandle) error) *cobra.Command

// reidentify is `tagcast migrate reidentify`: a new identity for a copy of
// a store.
func reidentify(run migrateRunner) *cobra.Command {
	c := run("reidentify", "draw a new identity for this store (a copy of another store, before its first start)",
		func(ctx context.Context, w io.Writer, h *dbHandle) error {
			release, err := h.lockIdle(ctx, "reidentify is for a copy before its first start; its running processes, restarted, would refuse their Redis marked with the old identity")
			if err != nil {
				return err
			}
			defer release()
			oldID, newID, err := sqlstore.Reidentify(ctx, h.db, h.dialect)
			if err != nil {
				return err
			}
			if h.json {
				return writeJSON(w, map[string]string{"old": oldID, "new": newID})
			}
			_, err = fmt.Fprintf(w, "store identity %s replaced by %s (%s)\n", oldID, newID, h.dialect)
			return err
		})
	c.Long = "Draw a new identity for the store. Every process on a shared Redis marks its database with its\n" +
		"store's identity (key tagcast:store) and refuses a database another store marked, so that two\n" +
		"deployments never share one. A copy of a store (a backup restored for staging, a copied SQLite\n" +
		"file) keeps the original's identity, and the check cannot tell them apart: run this on the copy\n" +
		"before its first start. Not on a store whose processes run: restarted, they would find their\n" +
		"Redis database marked with the old identity and refuse it. It refuses while any tagcast process\n" +
		"works for the store (holds its guard lock), and changes nothing then."
	return c
}

// renameApp is `tagcast migrate rename-app OLD NEW`: an app renamed in
// every table of the store at once, for its processes to start with the
// renamed app in their configuration (they refuse an App Key the store
// knows under another name: sqlstore.RecordAppKeys).
func renameApp(run migrateRunner) *cobra.Command {
	var from, to string
	c := run("rename-app", "rename an app in the store (its campaigns, runs, sends, quota ledger and blocks), before starting with the new name",
		func(ctx context.Context, w io.Writer, h *dbHandle) error {
			release, err := h.lockIdle(ctx, "rename-app renames an app its running processes know by the old name, and under which they would go on recording")
			if err != nil {
				return err
			}
			defer release()
			renamed, err := sqlstore.RenameApp(ctx, h.db, h.dialect, from, to)
			if err != nil {
				return err
			}
			if h.json {
				return writeJSON(w, map[string]any{"from": from, "to": to, "rows": renamed})
			}
			var parts []string
			for _, table := range slices.Sorted(maps.Keys(renamed)) {
				parts = append(parts, fmt.Sprintf("%s %d", table, renamed[table]))
			}
			_, err = fmt.Fprintf(w, "app %s renamed %s (%s rows: %s)\n", from, to, h.dialect, strings.Join(parts, ", "))
			return err
		})
	c.Use = "rename-app OLD NEW"
	c.Args = cobra.ExactArgs(2)
	c.PreRunE = func(_ *cobra.Command, args []string) error {
		from, to = args[0], args[1]
		if !config.ValidAppName(to) {
			return &exitError{code: 2, err: fmt.Errorf("rename-app: NEW %q is not an app name (letters, digits, . _ -; at most 64, starting with a letter or digit)", to)}
		}
		return nil
	}
	c.Long = "Rename an app in the store: its campaigns, runs, sends, quota ledger entries, quota block and\n" +
		"recorded App Key, in one transaction. The service counts the quota per App Key, tagcast's quota\n" +
		"guard and store by app name: a process refuses to start with an app whose App Key the store\n" +
		"knows under another name (its windows would start empty and hand the key's quota out again).\n" +
		"Stop every process of the store, run this, then start them with the new name in their\n" +
		"configuration. It refuses, changing nothing, while a process of the store runs, when NEW\n" +
		"already names rows, or when OLD names none."
	return c
}

// sqliteDirExists says, naming both, when the directory of the SQLite
// database file does not exist or is not a directory.
func sqliteDirExists(file string) error {
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("database.url: cannot create the SQLite database %s: its directory %s does not exist (create it first)", file, dir)
	case err == nil && !fi.IsDir():
		return fmt.Errorf("database.url: cannot create the SQLite database %s: %s is not a directory", file, dir)
	}
	return nil // any other problem: the driver's error says it
}

// dbHandle is the open database of one migrate command.
type dbHandle struct {
	db      *sql.DB
	dialect migrations.Dialect
	file    string // the SQLite file ("" on PostgreSQL or in memory)
	json    bool
}

// errStoreInUse refuses a change to a store while its processes run.
var errStoreInUse = errors.New("a tagcast process works for this store (it holds the store's guard lock)")

// lockIdle takes the store's guard lock exclusively, as no running process
// lets it (each holds it while it works for the store, lockGuard), and
// returns its release: errStoreInUse, with why the command needs the
// store idle, while any holds it.
func (h *dbHandle) lockIdle(ctx context.Context, why string) (func(), error) {
	inUse := fmt.Errorf("%w: %s. Nothing changed; stop every process of the store first", errStoreInUse, why)
	switch {
	case h.dialect == migrations.Postgres:
		tctx, cancel := context.WithTimeout(ctx, guardLockTimeout)
		defer cancel()
		conn, err := h.db.Conn(tctx)
		if err != nil {
			return nil, fmt.Errorf("store guard lock: %w", err)
		}
		var got bool
		if err := conn.QueryRowContext(tctx, `SELECT pg_try_advisory_lock($1)`, guardLockKey).Scan(&got); err != nil || !got {
			_ = conn.Close()
			if err != nil {
				return nil, fmt.Errorf("store guard lock: %w", err)
			}
			return nil, inUse
		}
		return func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), guardLockTimeout)
			defer cancel()
			_, _ = conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, guardLockKey)
			_ = conn.Close() // the session's end drops the lock anyway
		}, nil
	case h.file != "":
		path := h.file
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		unlock, err := filelock.TryLock(path + ".guard.lock")
		if errors.Is(err, filelock.ErrLocked) {
			return nil, inUse
		}
		if err != nil {
			return nil, fmt.Errorf("store guard lock: %w", err)
		}
		return func() { _ = unlock() }, nil
	}
	return func() {}, nil // in memory: private to this process
}

func (h *dbHandle) printResults(w io.Writer, verb string, res []migrations.Result) error {
	if h.json {
		if res == nil {
			res = []migrations.Result{}
		}
		return writeJSON(w, res)
	}
	if len(res) == 0 {
		_, err := fmt.Fprintf(w, "nothing %s (%s)\n", verb, h.dialect)
		return err
	}
	for _, r := range res {
		if _, err := fmt.Fprintf(w, "%s %05d %s (%s)\n", verb, r.Version, r.Name, r.Duration); err != nil {
			return err
		}
	}
	return nil
}
