package quota

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkReserve measures one reservation round trip (EVALSHA of
// reserve.lua) on a local redis-server, with a window that never fills.
func BenchmarkReserve(b *testing.B) {
	bu := setup(b, map[string]Policy{"main": {Hourly: 1 << 30, Daily: 1 << 30}}, NoMargin, time.Now())
	opts := bu.opts
	opts.Logger = zerolog.Nop()
	g, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := g.Reserve(ctx, "main"); err != nil { // rebuild once
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		bu.clock.Advance(time.Millisecond)
		if _, err := g.Reserve(ctx, "main"); err != nil {
			b.Fatal(err)
		}
	}
}
