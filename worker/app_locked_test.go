package worker_test

import (
	"testing"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
	"github.com/tagcast/tagcast/quota"
)

// TestLockedAppFailsItsSendAndGivesTheSlotBack: an App Key the service
// answers 401/1006 (app locked or deleted) or 401/1007 (restriction) fails
// the send at once, with its code, and gives its quota slot back: the
// service sent nothing, so the day's pushes stay for the app once it is
// unlocked. Through the emulator, which now answers both codes.
func TestLockedAppFailsItsSendAndGivesTheSlotBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		patch emulator.AppPatch
		code  int
	}{
		{"locked", emulator.AppPatch{Locked: new(true)}, pushapi.CodeAppLocked},
		{"restricted", emulator.AppPatch{Restricted: new(true)}, pushapi.CodeRestricted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, envOpts{policy: quota.Policy{Hourly: 2, Daily: 3}})
			if err := e.emu.UpdateApp(testKey, tc.patch); err != nil {
				t.Fatal(err)
			}
			ids := fire(t, e.ctx, e.store, 1, body(), t0, t0, 0)
			if err := e.handler.ProcessRun(e.ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			run, sends := e.run(ids[0])
			if run.Status != campaign.RunFailed || sends[0].Status != campaign.SendFailed || sends[0].LastCode != tc.code || sends[0].Attempts != 1 {
				t.Errorf("run %s, send %s code %d after %d attempts; want failed with %d after one",
					run.Status, sends[0].Status, sends[0].LastCode, sends[0].Attempts, tc.code)
			}
			if st, err := e.guard.Status(e.ctx, testApp); err != nil || st.Day.Used != 0 {
				t.Errorf("day quota used %d (%v), want 0: the service sent nothing", st.Day.Used, err)
			}
		})
	}
}
