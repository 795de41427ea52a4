package campaign_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/tagcast/tagcast/campaign"
)

// A campaign file is parsed and validated at creation; its templates are
// rendered when a Run is created for a fire time.
func ExampleParseFile() {
	file := []byte(`
name: winter-sale
app: main
schedule: {cron: "0 9 * * MON-FRI", timezone: Asia/Shanghai, missed: skip}
vars: {product: Winter coat}
push:
  platform: [ios, android]
  fromuserid: system
  message: {objectName: AppNote, content: hi}
  audience: {tag: [女, 年轻], is_to_all: false}
  notification: {alert: '{{.Vars.product}}: 30% off until {{.FireTime.Format "15:04"}}'}
`)
	now := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC) // an injected clock
	c, err := campaign.ParseFile(file, campaign.ValidateOptions{Now: now, Apps: []string{"main"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("first fire:", c.NextRunAt.Format(time.RFC3339))
	body, err := campaign.Render(c, *c.NextRunAt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("alert:", body.Notification.Alert)

	// Every problem comes back at once, with its field path.
	_, err = campaign.ParseFile([]byte("name: x\napp: ghost\ncolour: red\nschedule: {cron: '0 0 30 2 *'}\npush: {platform: [ios], fromuserid: s, message: {objectName: AppNote, content: hi}, audience: {is_to_all: true}, notification: {alert: '{{.Vars.nope}}'}}"),
		campaign.ValidateOptions{Now: now, Apps: []string{"main"}})
	var verr *campaign.ValidationError
	if errors.As(err, &verr) {
		for _, p := range verr.Problems {
			fmt.Println(p.Path)
		}
	}
	// Output:
	// first fire: 2026-11-23T01:00:00Z
	// alert: Winter coat: 30% off until 09:00
	// colour
	// app
	// schedule.cron
	// push.notification.alert
}
