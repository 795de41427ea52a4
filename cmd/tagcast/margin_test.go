package main

import (
	"testing"
	"time"

	"github.com/tagcast/tagcast/config"
	"github.com/tagcast/tagcast/quota"
)

// The guard's margin must cover a push's whole way to the service: up to
// its reservation's UseBy, the checks after it, then the call. The margin
// allows config.BeforeCall before the call, so UseBy must stay under it;
// UseBy used to be half the margin (7.5 s with a 10 s timeout, over the 5 s
// allowed), and a push begun that late could reach the service after the
// guard had reopened its slot: a 429 (found by a review).
func TestMarginCoversUseByAndTheCall(t *testing.T) {
	if quota.MaxUseBy >= config.BeforeCall {
		t.Fatalf("quota.MaxUseBy %s leaves no time before config.BeforeCall %s for the checks after it", quota.MaxUseBy, config.BeforeCall)
	}
	for _, timeout := range []time.Duration{time.Second, 10 * time.Second, time.Minute} {
		cfg := config.Default()
		app := config.DefaultApp()
		app.Timeout = timeout
		cfg.Apps = []config.App{app}
		if m := quotaMargin(cfg); m < quota.MaxUseBy+timeout {
			t.Errorf("timeout %s: margin %s does not cover UseBy %s plus the call", timeout, m, quota.MaxUseBy)
		}
	}
}
