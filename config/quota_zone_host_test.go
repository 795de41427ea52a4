package config

import (
	"strings"
	"testing"
	"time"
)

// "Local" is refused as a quota time zone because it differs between
// machines, but "localtime" is the same thing under another name: on most
// Linux hosts /usr/share/zoneinfo/localtime is a symlink to /etc/localtime,
// so time.LoadLocation accepts it and each worker counts clock hours and
// calendar days in its own host's zone (and a host without system zoneinfo,
// which falls back to the embedded tzdata, refuses it).
func TestQuotaTimezoneLocaltimeRefused(t *testing.T) {
	t.Parallel()
	if _, err := time.LoadLocation("localtime"); err != nil {
		t.Logf("this host has no zoneinfo/localtime (%v): the name is refused here anyway", err)
	}
	app := DefaultApp()
	app.Name, app.AppKey, app.DataCenter, app.Secret = "main", "k", "beijing", NewSecret("s3cr3t")
	for _, tz := range []string{"UTC", "localtime"} {
		cfg := Default()
		a := app
		a.Quota.Timezone = tz
		cfg.Apps = []App{a}
		err := cfg.Validate()
		refused := err != nil && strings.Contains(err.Error(), "apps[0].quota.timezone")
		if want := tz != "UTC"; refused != want {
			t.Errorf("quota.timezone %q: refused %v, want %v (err %v)", tz, refused, want, err)
		}
	}
}
