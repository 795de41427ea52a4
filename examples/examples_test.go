package examples_test

import (
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/examples"
	"github.com/tagcast/tagcast/pushapi"
)

// now is when the examples are checked: before every fire time they name.
var now = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func TestEveryExampleParsesAndValidates(t *testing.T) {
	t.Parallel()
	want := map[string]func(t *testing.T, c campaign.Campaign){
		"marketing-broadcast.yaml": func(t *testing.T, c campaign.Campaign) {
			if c.Schedule.Kind() != "at" || !c.NextRunAt.Equal(time.Date(2030, 12, 1, 1, 0, 0, 0, time.UTC)) || c.Schedule.DeliverWithin != 2*time.Hour {
				t.Errorf("schedule = %+v, next %v; want at 2030-12-01T01:00Z within 2h", c.Schedule, c.NextRunAt)
			}
		},
		"recurring-announcement.yaml": func(t *testing.T, c campaign.Campaign) {
			// The first Monday of 2030 at 09:00 in Shanghai is 7 January, 01:00 UTC.
			if c.Schedule.Kind() != "cron" || c.Schedule.Timezone != "Asia/Shanghai" || !c.NextRunAt.Equal(time.Date(2030, 1, 7, 1, 0, 0, 0, time.UTC)) {
				t.Errorf("schedule = %+v, next %v; want cron in Asia/Shanghai first firing 2030-01-07T01:00Z", c.Schedule, c.NextRunAt)
			}
			body, err := campaign.Render(c, *c.NextRunAt)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got, want := body.Notification.Title, "Maintenance this week (2030-01-07)"; got != want {
				t.Errorf("rendered title = %q, want %q", got, want)
			}
		},
		"user-id-campaign.yaml": func(t *testing.T, c campaign.Campaign) {
			if n := len(c.Push.Audience.UserID); n != 2500 {
				t.Errorf("user ids = %d, want 2500", n)
			}
			chunks := campaign.Split(c.Push)
			if len(chunks) != 3 || len(chunks[0].Audience.UserID) != 1000 || len(chunks[2].Audience.UserID) != 500 {
				t.Errorf("split into %d sends, want 1000 + 1000 + 500", len(chunks))
			}
			if c.Schedule.Kind() != "now" || !c.NextRunAt.Equal(now) {
				t.Errorf("schedule = %+v, want now", c.Schedule)
			}
		},
	}
	names := examples.Names()
	if len(names) != len(want) {
		t.Errorf("examples = %v, want %d files", names, len(want))
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data, err := fs.ReadFile(examples.Files(), name)
			if err != nil {
				t.Fatal(err)
			}
			c, err := campaign.ParseFile(data, campaign.ValidateOptions{Now: now, Apps: []string{"main"}})
			if err != nil {
				t.Fatalf("%s does not validate: %v", name, err)
			}
			check, ok := want[name]
			if !ok {
				t.Fatalf("no expectations for %s", name)
			}
			check(t, c)
		})
	}
}

// TestPushBodyIsValid: push-body.json, the body of the README's `tagcast push
// validate` and `push send`, decodes strictly (no unknown field) and passes
// every rule of the service. It is not embedded (it is no campaign file).
func TestPushBodyIsValid(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("push-body.json")
	if err != nil {
		t.Fatal(err)
	}
	var req pushapi.Request
	if err := pushapi.DecodeJSON(data, &req); err != nil {
		t.Fatalf("push-body.json does not decode: %v", err)
	}
	if err := req.Validate(); err != nil {
		t.Fatalf("push-body.json is not valid: %v", err)
	}
	if got := req.Audience.Tag; len(got) != 1 || got[0] != "vip" || req.Audience.IsToAll {
		t.Errorf("audience = %+v, want tag [vip] (the README tags user1 vip first)", req.Audience)
	}
}
