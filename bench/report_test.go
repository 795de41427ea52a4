package bench

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	t.Parallel()
	const out = `goos: linux
BenchmarkSendThroughput/postgres-2   1   12753588200 ns/op   4019 asynq_noop/s   0.05 ratio
--- BENCH: BenchmarkSendThroughput/postgres-2
    throughput_test.go:102: BenchmarkX 1 2 not a result line
BenchmarkSendThroughput/postgres-2   1   11000000000 ns/op   3000 asynq_noop/s   0.07 ratio
BenchmarkSendThroughput/postgres-2   1   13000000000 ns/op   5000 asynq_noop/s   0.06 ratio
PASS
`
	got, err := Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "BenchmarkSendThroughput/postgres", Unit: "ns/op", Values: []float64{12753588200, 11000000000, 13000000000}},
		{Name: "BenchmarkSendThroughput/postgres", Unit: "asynq_noop/s", Values: []float64{4019, 3000, 5000}},
		{Name: "BenchmarkSendThroughput/postgres", Unit: "ratio", Values: []float64{0.05, 0.07, 0.06}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Parse (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		r    Result
		want float64
	}{
		{got[1], 4019},
		{Result{Values: []float64{4, 1, 3, 2}}, 2.5},
		{Result{}, 0},
	} {
		if m := tc.r.Median(); m != tc.want {
			t.Errorf("median of %v = %v, want %v", tc.r.Values, m, tc.want)
		}
	}
	var b strings.Builder
	if err := Summarize(&b, got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "asynq_noop/s  3     4019") {
		t.Errorf("summary lacks the median line:\n%s", b.String())
	}
}

func TestParseReportsFailure(t *testing.T) {
	t.Parallel()
	got, err := Parse(strings.NewReader("BenchmarkA-2 1 5 ns/op\n--- FAIL: BenchmarkB\nFAIL\n"))
	if !errors.Is(err, ErrBenchFailed) {
		t.Fatalf("err = %v, want ErrBenchFailed", err)
	}
	if len(got) != 1 || got[0].Values[0] != 5 {
		t.Errorf("results before the failure: %+v", got)
	}
}
