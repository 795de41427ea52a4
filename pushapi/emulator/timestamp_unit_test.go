package emulator

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// The Timestamp header's unit is a point where the service's material
// contradicts itself (push-api-facts.md: its docs say milliseconds, its
// official SDKs send seconds), so it is configurable, seconds by default.
// The real client signs each unit, and the emulator accepts both.
func TestClientTimestampUnitIsConfigurable(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 10, Daily: 10}}}})
	var mu sync.Mutex
	var last string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		last = r.Header.Get("Timestamp")
		mu.Unlock()
		b.em.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	seconds, millis := strconv.FormatInt(t0.Unix(), 10), strconv.FormatInt(t0.UnixMilli(), 10)
	for _, tt := range []struct{ unit, want string }{
		{"", seconds},
		{pushapi.TimestampSeconds, seconds},
		{pushapi.TimestampMilliseconds, millis},
	} {
		c, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret),
			Hosts: []string{srv.URL}, Now: b.em.Now, TimestampUnit: tt.unit})
		if err != nil {
			t.Fatalf("unit %q: NewClient: %v", tt.unit, err)
		}
		if _, err := c.Push(t.Context(), tagPush()); err != nil {
			t.Errorf("unit %q: the emulator refused the push: %v", tt.unit, err)
		}
		mu.Lock()
		got := last
		mu.Unlock()
		if got != tt.want {
			t.Errorf("unit %q: Timestamp header %q, want %q", tt.unit, got, tt.want)
		}
	}
	_, err := pushapi.NewClient(pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret),
		Hosts: []string{srv.URL}, TimestampUnit: "minutes"})
	if err == nil || !strings.Contains(err.Error(), `timestamp unit: must be seconds or milliseconds, got "minutes"`) {
		t.Errorf("unit minutes: NewClient = %v, want the unit refused by name", err)
	}
}
