package emulator

import (
	"testing"
)

// The quota guard (quota.Policy), tagcast's config check and the campaign
// schedules load time zones with calendar.LoadZone, which refuses the names
// that mean the host's own setting ("Local", "localtime", "posixrules"):
// the guard, the emulator and the schedules must agree on which instants a
// day holds. An emulator taking "Local" counts its calendar day (and clock
// hour) in whatever zone the host running the tests is set to, another day
// on a developer's machine than on CI; and `tagcast emulator --timezone
// Local` started on a config `tagcast serve` refuses. Was: the emulator
// loaded the zone with time.LoadLocation (found by a review).
func TestQuotaTimezoneRefusesHostZone(t *testing.T) {
	t.Parallel()
	for _, tz := range []string{"Local", "localtime"} {
		cfg := Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Timezone: tz}}}}
		if err := cfg.Validate(); err == nil {
			t.Errorf("quota.timezone %q: accepted; want it refused as the quota guard refuses it (host-dependent day)", tz)
		}
	}
	em, err := New(Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := em.UpdateApp(testKey, AppPatch{Quota: &Quota{Timezone: "Local"}}); err == nil {
		t.Errorf("PATCH quota.timezone Local: accepted; want it refused")
	}
}
