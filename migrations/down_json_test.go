package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
)

// TestDownFrom7KeepsJSONAsWritten: rolling back 00007 on PostgreSQL casts a
// campaign's push and vars and a send's body back to jsonb, which rewrites
// every number in canonical form (1E+2 becomes 100, 1e308 a 309-digit
// integer). Up again does not bring the text back: the campaign then fires
// other text than was validated (and a body validated under the service's
// 1 MiB may be over it). So Down(KeepData) refuses it with a
// *DataLossError naming the columns it would rewrite and their counts, as
// it refuses a step that drops a column holding values; DropData rolls it
// back. On SQLite 00007 changes nothing and rolls back.
func TestDownFrom7KeepsJSONAsWritten(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			src := `{"name":"extras","app":"main","schedule":{"at":"2026-11-20T09:00:00Z"},
			"push":{"platform":["ios"],"fromuserid":"system","audience":{"is_to_all":true},
			"message":{"objectName":"RC:TxtMsg","content":"{\"content\":\"x\"}"},
			"notification":{"alert":"hi","ios":{"extras":{"small":1E+2,"big":1e308}}}}}`
			c, err := campaign.ParseFile([]byte(src), campaign.ValidateOptions{Now: now, Apps: []string{"main"}})
			if err != nil {
				t.Fatal(err)
			}
			created, err := st.Create(ctx, c, now)
			if err != nil {
				t.Fatal(err)
			}
			extras := func() string {
				t.Helper()
				got, err := st.GetCampaign(ctx, created.ID)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(got.Push.Notification.IOS.Extras)
				return string(b)
			}
			before := extras()
			if !strings.Contains(before, `"small":1E+2`) || !strings.Contains(before, `"big":1e308`) {
				t.Fatalf("before down: extras %s; want the numbers as written", before)
			}

			// The steps after 00007 drop and rewrite nothing (00008 keeps
			// its table): not refused.
			rollBackNewerThan(t, st.DB(), st.Dialect(), 7)
			if after := extras(); after != before {
				t.Fatalf("after rolling back the steps after 00007: extras %s, want %s", after, before)
			}

			res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			if st.Dialect() == migrations.SQLite {
				// TEXT either way: nothing rewritten, nothing refused.
				if err != nil || len(res) != 1 || res[0].Version != 7 {
					t.Fatalf("down from 7 on SQLite = %v, %v; want 00007 rolled back", res, err)
				}
				if after := extras(); after != before {
					t.Errorf("after down from 7 on SQLite: extras %s, want %s", after, before)
				}
				return
			}
			var loss *migrations.DataLossError
			if !errors.As(err, &loss) || len(res) != 0 {
				if err == nil {
					if err := st.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
					after := extras()
					t.Fatalf("Down(KeepData) from 7 = %v, nil: it rolled back 00007; after Up campaign %d's extras %s became %.60s... (%d bytes): "+
						"rolling back 00007 rewrote the push as jsonb, silently and for good", res, created.ID, before, after, len(after))
				}
				t.Fatalf("Down(KeepData) from 7 = %v, %v; want a *DataLossError and nothing rolled back", res, err)
			}
			// (CastTo, in loss.Tables, is checked through the message.)
			want := &migrations.DataLossError{Migration: "00007_json_as_written.sql", Tables: []migrations.TableRows{
				{Table: "campaigns", Column: "push", Rows: 1},
				{Table: "campaigns", Column: "vars", Rows: 1},
			}}
			if diff := cmp.Diff(want, loss, cmpopts.IgnoreFields(migrations.TableRows{}, "CastTo")); diff != "" {
				t.Errorf("refusal (-want +got):\n%s", diff)
			}
			if msg := err.Error(); !strings.Contains(msg, "would rewrite columns that hold values") ||
				!strings.Contains(msg, "campaigns.push to jsonb (a value in 1 row), campaigns.vars to jsonb (a value in 1 row)") ||
				!strings.Contains(msg, "1E+2 becomes 100") {
				t.Errorf("refusal %q does not say what it would rewrite, with the counts, and how", msg)
			}
			if diff := cmp.Diff(versionsUpTo(7), appliedVersions(t, st)); diff != "" {
				t.Errorf("after the refusal (-want +got):\n%s", diff)
			}
			if after := extras(); after != before {
				t.Errorf("after the refusal: extras %s, want %s", after, before)
			}

			// Told to: it rolls back, and the text is jsonb's.
			if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.DropData); err != nil || len(res) != 1 || res[0].Version != 7 {
				t.Fatalf("down from 7 with DropData = %v, %v; want 00007 rolled back", res, err)
			}
			if err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if after := extras(); strings.Contains(after, "1E+2") || !strings.Contains(after, `"small":100`) {
				t.Errorf("after down with DropData and up: extras %.60s...; want jsonb's canonical numbers", after)
			}
		})
	}
}
