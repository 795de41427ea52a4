package sqlstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// Extras numbers are kept as their text (pushapi.Extras: "reaches the
// service digit for digit, whether the request comes from a file, the
// admin API or the store"). PostgreSQL keeps push and send bodies in jsonb,
// which rewrites every number in canonical numeric form: 1E+2 becomes 100
// and 1e308 a 309-digit integer. So on PostgreSQL the app gets other text
// than on SQLite and than what was validated, and a body validated at
// creation at ~50 KB is over pushapi.MaxBodyBytes (1 MiB) at its fire: the
// run fails on PostgreSQL and is sent on SQLite.
func TestExtrasNumbersKeepTheirText(t *testing.T) {
	t.Parallel()
	var extras []string
	extras = append(extras, `"small":1E+2`)
	for i := range 3500 {
		extras = append(extras, fmt.Sprintf(`"k%04d":1e308`, i))
	}
	src := `{"name":"extras","app":"main","schedule":{"at":"2026-11-20T09:00:00Z","deliver_within":"1h"},
	"push":{"platform":["ios"],"fromuserid":"system","audience":{"is_to_all":true},
	"message":{"objectName":"RC:TxtMsg","content":"{\"content\":\"x\"}"},
	"notification":{"alert":"hi","ios":{"extras":{` + strings.Join(extras, ",") + `}}}}}`
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(t testing.TB) campaign.Store { return openMigrated(t, d.url(t)) })
			c := parseAtT0(t, src)
			validated, err := campaign.Render(c, *c.NextRunAt)
			if err != nil {
				t.Fatal(err)
			}
			vb, _ := json.Marshal(validated)
			r, sends := b.fireAt(t, c, t0)
			if r.Status != campaign.RunPending || len(sends) != 1 {
				t.Fatalf("validated body of %d bytes; at the fire run %s (%q) with %d sends, want pending with its send", len(vb), r.Status, r.Error, len(sends))
			}
			got, _ := json.Marshal(sends[0].Body.Notification.IOS.Extras)
			if !strings.Contains(string(got), `"small":1E+2`) || !strings.Contains(string(got), `"k0000":1e308`) {
				t.Errorf("the send's extras lost their numbers' text: %.80s...", got)
			}
		})
	}
}
