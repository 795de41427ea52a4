package campaign

import (
	"strings"
	"testing"
	"time"
)

// README "Templates": a template that names an unknown variable (.Vars.x)
// is rejected at creation, in every branch. Was: only when the first
// fire's rendering happened to execute it: behind a branch on .FireTime
// the typo was accepted, and every fire that took the branch (each 1st of
// the month here) ended its run failed, nothing sent (found by a review).
func TestUnknownNameInAnyBranchIsRejectedAtCreation(t *testing.T) {
	t.Parallel()
	src := string(campaignWith(daily, `{product: coat}`, `{{.Vars.product}} on sale{{if eq .FireTime.Day 1}}, and {{.Vars.prodcut}} too{{end}}`))
	c, err := ParseFile([]byte(src), testOpts)
	if err == nil {
		_, ferr := RenderSends(c, time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC))
		t.Fatalf("ParseFile accepted .Vars.prodcut (no such var); the fire of 2026-12-01 then fails: %v", ferr)
	}
	if !strings.Contains(err.Error(), "push.notification.alert") {
		t.Errorf("ParseFile = %v; want push.notification.alert named", err)
	}
}

// The creation check reads every chain from the template's data, and only
// those: a chain under a with or range (another dot), in a defined
// template, or through index, is the fires' to judge; a misspelt field of
// FireTime or Campaign is refused as a var is.
func TestNameCheckCoversChainsFromTheData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		alert string
		ok    bool
	}{
		{`{{if false}}{{$.Vars.nope}}{{end}}`, false},
		{`{{with .Vars.items}}{{$.Vars.nope}}{{end}}`, false},
		{`{{if false}}{{.FireTime.Dya}}{{end}}`, false},
		{`{{if false}}{{.Campaign.Title}}{{end}}`, false},
		{`{{if false}}{{.Vars.shop.nope}}{{end}}`, false},
		{`{{if false}}{{.Vars.shop.city}} {{.FireTime.Day}} {{.FireTime.Format "Jan"}} {{.Campaign.Name}}{{end}}`, true},
		{`{{range .Vars.items}}{{.name}}{{end}}`, true},
		{`{{with .Vars.shop}}{{.city}}{{end}}`, true},
		{`{{define "x"}}{{if false}}{{.anything}}{{end}}{{end}}{{template "x" .Vars.shop}}`, true},
		{`{{if false}}{{index .Vars "shop"}}{{end}}`, true},
	} {
		src := string(campaignWith(daily, `{shop: {city: Shanghai}, items: [{name: a}]}`, "x"+tc.alert))
		_, err := ParseFile([]byte(src), testOpts)
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", tc.alert, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "push.notification.alert")) {
			t.Errorf("%s: %v; want refused naming push.notification.alert", tc.alert, err)
		}
	}
}
