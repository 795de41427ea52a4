package campaign

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestScheduleJSONRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	in := Schedule{At: &at, Timezone: "Asia/Shanghai", Missed: MissedOnce, DeliverWithin: 2 * time.Hour}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"at":"2026-12-01T01:00:00Z","timezone":"Asia/Shanghai","missed":"once","deliver_within":"2h0m0s"}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var out Schedule
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"deliver_within":"soon"}`), &out); err == nil {
		t.Error("a bad deliver_within decoded")
	}
}
