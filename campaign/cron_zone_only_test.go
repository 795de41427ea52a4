package campaign_test

import (
	"strings"
	"testing"

	"github.com/tagcast/tagcast/campaign"
)

// A cron with a zone prefix and no fields ("CRON_TZ=Asia/Tokyo", a spec cut
// short) makes robfig/cron slice past the missing space and panic; ParseCron
// recovers, but passes the Go runtime's text on as the rule: the user reads
// "runtime error: slice bounds out of range [:-1]" instead of what is wrong
// with the spec. FuzzCronSchedule has "CRON_TZ=" among its seeds, but only
// checks that the error is not empty.
func TestCronZoneWithoutFieldsNamesTheRule(t *testing.T) {
	t.Parallel()
	body := "push: {platform: [ios], fromuserid: system, audience: {is_to_all: true}, " +
		"message: {objectName: 'RC:TxtMsg', content: '{\"content\":\"x\"}'}, notification: {alert: x}}\n"
	for _, spec := range []string{"CRON_TZ=Asia/Tokyo", "TZ=UTC", "CRON_TZ="} {
		_, _, err := campaign.ParseCron(spec, "")
		if err == nil || strings.Contains(err.Error(), "runtime error") {
			t.Errorf("ParseCron(%q) = %v, want an error saying the spec has no fields after its zone", spec, err)
		}
		_, err = campaign.ParseFile([]byte("name: a\napp: main\nschedule: {cron: '"+spec+"'}\n"+body),
			campaign.ValidateOptions{Now: fuzzNow, Apps: []string{"main"}})
		if err == nil || strings.Contains(err.Error(), "runtime error") {
			t.Errorf("ParseFile with cron %q: %v, want a schedule.cron rule, not a Go runtime panic's text", spec, err)
		}
	}
}
