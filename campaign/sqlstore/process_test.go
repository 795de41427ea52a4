package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/campaign"
	"github.com/tagcast/tagcast/campaign/sqlstore"
	"github.com/tagcast/tagcast/internal/testenv"
)

// The test binary re-executes itself as a helper process when these are set
// (see TestMain): two real OS processes race on one database.
const (
	helperModeEnv  = "TAGCAST_STORE_HELPER"       // claimdue | claimsend
	helperURLEnv   = "TAGCAST_STORE_HELPER_URL"   // the database
	helperStartEnv = "TAGCAST_STORE_HELPER_START" // Unix nanoseconds: both start together
	helperOrderEnv = "TAGCAST_STORE_HELPER_ORDER" // "reverse" walks sends backwards
)

// helperResult is what a helper process prints on stdout.
type helperResult struct {
	Claimed []int64 `json:"claimed"` // campaign ids (claimdue) or send ids (claimsend)
}

// helperMain runs one helper process and returns its exit code.
func helperMain(mode string) int {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, os.Getenv(helperURLEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer func() { _ = s.Close() }()
	if ns, err := strconv.ParseInt(os.Getenv(helperStartEnv), 10, 64); err == nil {
		time.Sleep(time.Until(time.Unix(0, ns))) // a start barrier between processes, not a timer in logic
	}
	var res helperResult
	switch mode {
	case "claimdue":
		for {
			runs, err := s.ClaimDue(ctx, t0, t0, 2, plan)
			if err != nil {
				fmt.Fprintln(os.Stderr, "claim due:", err)
				return 1
			}
			if len(runs) == 0 {
				break
			}
			for _, r := range runs {
				res.Claimed = append(res.Claimed, r.CampaignID)
			}
		}
	case "claimsend":
		ids, err := allSendIDs(ctx, s)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if os.Getenv(helperOrderEnv) == "reverse" {
			slices.Reverse(ids)
		}
		for _, id := range ids {
			_, err := s.ClaimSend(ctx, id, t0, time.Minute)
			if errors.Is(err, campaign.ErrIllegalTransition) {
				continue
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "claim send:", err)
				return 1
			}
			res.Claimed = append(res.Claimed, id)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}

func allSendIDs(ctx context.Context, s campaign.Store) ([]int64, error) {
	runs, err := s.OpenRuns(ctx, 0, 1000)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, r := range runs {
		_, sends, err := s.GetRun(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, sd := range sends {
			ids = append(ids, sd.ID)
		}
	}
	return ids, nil
}

// race runs two helper processes in mode against url and returns how often
// each id was claimed, and by how many processes claims were made.
func race(t *testing.T, url, mode string) map[int64]int {
	t.Helper()
	start := time.Now().Add(300 * time.Millisecond).UnixNano()
	var procs []*testenv.Self
	for i := range 2 {
		env := []string{helperModeEnv + "=" + mode, helperURLEnv + "=" + url, helperStartEnv + "=" + strconv.FormatInt(start, 10)}
		if i == 1 {
			env = append(env, helperOrderEnv+"=reverse")
		}
		procs = append(procs, testenv.StartSelf(t, fmt.Sprintf("%s helper %d", mode, i), env...))
	}
	got := map[int64]int{}
	for i, p := range procs {
		<-p.Done()
		if err := p.Err(); err != nil {
			t.Fatalf("helper %d (%s): %v\nstderr:\n%s", i, mode, err, p.Stderr.String())
		}
		var res helperResult
		if err := json.Unmarshal([]byte(p.Stdout.String()), &res); err != nil {
			t.Fatalf("helper %d output %q: %v", i, p.Stdout.String(), err)
		}
		t.Logf("%s: process %d claimed %d", mode, i, len(res.Claimed))
		for _, id := range res.Claimed {
			got[id]++
		}
	}
	return got
}

// TestClaimAcrossProcesses: two OS processes race to claim the same due
// campaigns, then the same sends, on each database: each fire and each send
// is claimed exactly once.
func TestClaimAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			url := d.url(t)
			b := bundle{ctx: context.Background(), store: openMigrated(t, url)}
			wantCampaigns := map[int64]int{}
			for i := range 30 {
				c := b.create(t, newCampaign("main", fmt.Sprintf("c%d", i), t0.Add(-time.Duration(i)*time.Second), 2500))
				wantCampaigns[c.ID] = 1
			}
			if diff := cmp.Diff(wantCampaigns, race(t, url, "claimdue")); diff != "" {
				t.Fatalf("fires per campaign across processes (-want +got):\n%s", diff)
			}
			ids, err := allSendIDs(b.ctx, b.store)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 90 {
				t.Fatalf("%d sends, want 90", len(ids))
			}
			wantSends := map[int64]int{}
			for _, id := range ids {
				wantSends[id] = 1
			}
			if diff := cmp.Diff(wantSends, race(t, url, "claimsend")); diff != "" {
				t.Errorf("claims per send across processes (-want +got):\n%s", diff)
			}
		})
	}
}
