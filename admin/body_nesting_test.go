package admin_test

import (
	"runtime"
	"strings"
	"testing"
)

// serverAlloc is what the in-process server (and the test's client)
// allocated while do ran.
func serverAlloc(do func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	do()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

// The tag endpoints scan the raw body for duplicate keys before decoding
// it (encoding/json's Decode stops at depth 10,000; its Token does not).
// The scan used to build and keep the full path string of every open
// array ("[0][0][0]..."): memory grew with the square of the depth, 8 KB of
// "[" cost about 100 MiB, and a 1 MiB body (what the size limit lets
// through) would have needed about 1.6 TiB, one authenticated request
// taking the process down (with `tagcast serve`, the scheduler and the
// worker too). Paths are now built only for the problem reported, and the
// tag bodies nest at most 32 deep: a 400, in bounded memory.
//
// Not parallel: the measure is the process's allocations while the request
// runs, and no parallel test runs beside a sequential one.
func TestTagBodyNestingCostsLinearMemory(t *testing.T) {
	b := setup(t, "sqlite::memory:")
	for _, n := range []int{8000, 1<<20 - 1} {
		body := strings.Repeat("[", n)
		var r response
		got := serverAlloc(func() {
			r = b.call(t, "PUT", "/v1/apps/main/users/u1/tags", "Bearer "+tokenA, "application/json", strings.NewReader(body))
		})
		if r.status != 400 || !strings.Contains(r.body, "nested more than 32 deep") {
			t.Errorf("PUT .../tags with %d nested '[': %s; want 400, nested too deep", n, r)
		}
		if got > 16<<20 {
			t.Errorf("PUT .../tags with a body of %d nested '[' allocated %d MiB; want under 16 MiB (it grew with the square of the depth)", n, got>>20)
		}
	}
}

// The same on POST /v1/campaigns: encoding/json's depth limit (10,000)
// bounded it, but the campaign file's checks rebuilt paths at every level,
// so a 19 KB body of nested arrays in vars cost about 450 MiB for a 400 and
// a few such requests at once could exhaust a small server. Now vars and
// extras nest at most 64 levels and paths are built only when reported.
func TestCampaignBodyNestingCostsLinearMemory(t *testing.T) {
	b := setup(t, "sqlite::memory:")
	const depth = 9990
	body := `{"vars": {"x": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
	var r response
	got := serverAlloc(func() {
		r = b.call(t, "POST", "/v1/campaigns", "Bearer "+tokenA, "application/json", strings.NewReader(body))
	})
	if r.status != 400 {
		t.Errorf("POST /v1/campaigns with vars nested %d deep: %s; want 400", depth, r)
	}
	if got > 32<<20 {
		t.Errorf("POST /v1/campaigns with a %d KB body of nested arrays allocated %d MiB; want under 32 MiB", len(body)>>10, got>>20)
	}
}
