package worker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The code label of the API latency histogram takes the service's codes and
// HTTP statuses as they are and anything else as "other": a misbehaving
// proxy answering random codes cannot grow the series without limit.
func TestLatencyCodeLabelIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []int{0, 200, 1002, 1050, 503, 987654, 31337, -1} {
		m.latency("https://api.example", code, time.Millisecond)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "tagcast_pushapi_request_duration_seconds" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "code" {
					got[l.GetValue()] = true
				}
			}
		}
	}
	want := map[string]bool{"0": true, "200": true, "1002": true, "1050": true, "503": true, "other": true}
	if len(got) != len(want) {
		t.Errorf("code labels %v, want %v", got, want)
	}
	for l := range want {
		if !got[l] {
			t.Errorf("code label %q missing: %v", l, got)
		}
	}
}
