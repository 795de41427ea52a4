package emulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// BenchmarkPush measures accepted pushes per second through the real client
// over loopback HTTP, with the quota raised out of the way. "serial" is one
// caller; "parallel" is GOMAXPROCS x 2 concurrent callers.
func BenchmarkPush(b *testing.B) {
	raised := Quota{Hourly: 1 << 30, Daily: 1 << 30}
	for _, bc := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		b.Run(bc.name, func(b *testing.B) {
			bd := setup(b, Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: raised}}, MaxPushes: 1000})
			bd.em.RunFrom(t0) // a running clock, as in real use
			c := bd.clientWith(b, pushapi.ClientConfig{AppKey: testKey, AppSecret: pushapi.NewSecret(testSecret), Timeout: 10 * time.Second})
			req := tagPush()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			if bc.parallel {
				b.SetParallelism(2) // 4 callers on 2 CPUs: within the client's 4 idle connections per host
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := c.Push(ctx, req); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if _, err := c.Push(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pushes/s")
			if got := bd.em.Counters(testKey).Accepted; got < b.N {
				b.Fatalf("accepted %d of %d", got, b.N)
			}
		})
	}
}

// BenchmarkPushHandler measures the emulator's own cost per accepted push,
// without the network or the client (a signed request replayed in memory).
func BenchmarkPushHandler(b *testing.B) {
	em, err := New(Config{Apps: []AppConfig{{AppKey: testKey, Secret: testSecret, Quota: Quota{Hourly: 1 << 30, Daily: 1 << 30}}}, MaxPushes: 1000})
	if err != nil {
		b.Fatal(err)
	}
	bd := &bundle{em: em}
	body := validBody(b)
	h := bd.signed(testKey, testSecret, "")
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, pushapi.PathPush, strings.NewReader(body))
		req.Header = h
		w := httptest.NewRecorder()
		em.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pushes/s")
}
