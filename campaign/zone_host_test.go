package campaign_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// LoadZone refuses "Local" because it is each host's own setting (replicas on
// differently set hosts would fire the same campaign at different instants),
// but accepts "localtime", the same host setting under its file name: on
// most Linux hosts /usr/share/zoneinfo/localtime links to /etc/localtime. A
// scheduler on a host without system zoneinfo (embedded tzdata only) cannot
// load it at all and every fire of the stored campaign fails there.
func TestCampaignTimezoneLocaltimeRefused(t *testing.T) {
	t.Parallel()
	if _, err := time.LoadLocation("localtime"); err != nil {
		t.Logf("this host has no zoneinfo/localtime (%v): the name is refused here anyway", err)
	}
	body := "push: {platform: [ios], fromuserid: system, audience: {is_to_all: true}, " +
		"message: {objectName: 'RC:TxtMsg', content: '{\"content\":\"x\"}'}, notification: {alert: x}}\n"
	for _, tc := range []struct{ schedule, path string }{
		{"schedule: {cron: '0 9 * * *', timezone: UTC}\n", ""},
		{"schedule: {cron: '0 9 * * *', timezone: localtime}\n", "schedule.timezone"},
		{"schedule: {cron: 'CRON_TZ=localtime 0 9 * * *'}\n", "schedule.cron"},
		{"schedule: {now: true, timezone: localtime}\n", "schedule.timezone"},
	} {
		_, err := campaign.ParseFile([]byte("name: a\napp: main\n"+tc.schedule+body),
			campaign.ValidateOptions{Now: fuzzNow, Apps: []string{"main"}})
		switch {
		case tc.path == "" && err != nil:
			t.Errorf("%s: %v", strings.TrimSpace(tc.schedule), err)
		case tc.path != "" && (err == nil || !strings.Contains(err.Error(), tc.path)):
			t.Errorf("%s: accepted (err %v), want a %s problem: a host-dependent zone", strings.TrimSpace(tc.schedule), err, tc.path)
		}
	}
	if _, err := campaign.LoadZone("localtime"); err == nil {
		t.Errorf(`LoadZone("localtime") accepted; it is the host's zone, like "Local"`)
	}
}
