package migrations_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/migrations"
	"github.com/tagcast/tagcast/pushapi"
)

// Down with KeepData guards the values of the columns a step drops, as it
// does the rows of the tables: rolling back 00004 would drop
// campaigns.idempotency_key and request_hash while campaigns hold keys.
// After the roll-forward a create retried under its key (its answer was
// lost) would no longer find the campaign and would create a second one,
// which fires too: the push goes out twice. Like 00006 (the retry keys, the
// same promise for retries), the step is refused with a *DataLossError
// naming the column.
func TestDownKeepsIdempotencyKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range bothDialects {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migratedStore(t, tc.url(t))
			at := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
			c := campaign.Campaign{
				App: "main", Name: "winter-sale",
				Push: pushapi.Request{Platform: []string{"ios"}, FromUserID: "system", Audience: pushapi.Audience{IsToAll: true},
					Message: &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hi"}`}},
				Schedule:  campaign.Schedule{At: &at, Missed: campaign.MissedOnce},
				Status:    campaign.CampaignActive,
				NextRunAt: &at,
			}
			key := campaign.IdempotencyKey{Key: "create-winter-sale-1", RequestHash: "h1"}
			first, replayed, err := st.CreateIdempotent(ctx, c, key, time.Now())
			if err != nil || replayed {
				t.Fatalf("CreateIdempotent = %v, %v", replayed, err)
			}

			// The steps after 00007 drop nothing (00008 keeps its
			// table): not refused. 00006 and 00005 hold nothing here:
			// they roll back. 00007
			// on PostgreSQL would rewrite the campaign's push as jsonb:
			// refused unless told DropData (down_json_test.go).
			rollBackNewerThan(t, st.DB(), st.Dialect(), 7)
			for _, v := range []int64{7, 6, 5} {
				data := migrations.KeepData
				if v == 7 && st.Dialect() == migrations.Postgres {
					data = migrations.DropData
				}
				if res, err := migrations.Down(ctx, st.DB(), st.Dialect(), data); err != nil || len(res) != 1 || res[0].Version != v {
					t.Fatalf("down from %d = %v, %v", v, res, err)
				}
			}
			res, err := migrations.Down(ctx, st.DB(), st.Dialect(), migrations.KeepData)
			var loss *migrations.DataLossError
			if errors.As(err, &loss) && len(res) == 0 {
				// Refused: the keys are kept, and the refusal names them.
				if msg := loss.Error(); !strings.Contains(msg, "campaigns.idempotency_key (a value in 1 row)") {
					t.Errorf("refusal %q does not name the column and its count", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("down from 4: %v", err)
			}
			// Rolled back: show what it cost.
			if _, err := migrations.Up(ctx, st.DB(), st.Dialect()); err != nil {
				t.Fatal(err)
			}
			again, replayed, err := st.CreateIdempotent(ctx, c, key, time.Now())
			t.Errorf("Down(KeepData) rolled back 00004 (%v) and dropped campaign %d's idempotency key; "+
				"after Up the same create under key %q made campaign %d (replayed %v, err %v): the campaign now fires twice",
				res, first.ID, key.Key, again.ID, replayed, err)
		})
	}
}
