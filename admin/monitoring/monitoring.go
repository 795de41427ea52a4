// Package monitoring builds the asynq monitoring UI (github.com/hibiken/asynqmon)
// that the admin API mounts under /monitoring/. The UI is always read-only:
// no queue, task or server can be changed from it. It lives apart from
// package admin so that admin itself never imports asynq.
package monitoring

import (
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// RootPath is where the admin API mounts the UI.
const RootPath = "/monitoring"

// UI is the monitoring UI's handler.
type UI struct {
	h *asynqmon.HTTPHandler
}

// New returns the read-only UI over the asynq queues reached with opt, rooted
// at RootPath. Close releases its Redis connection.
func New(opt asynq.RedisConnOpt) *UI {
	return &UI{h: asynqmon.New(asynqmon.Options{RootPath: RootPath, RedisConnOpt: opt, ReadOnly: true})}
}

// ServeHTTP serves the UI; "/monitoring/" is its home page.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") == RootPath && r.URL.Path != RootPath {
		r = r.Clone(r.Context())
		r.URL.Path = RootPath
	}
	u.h.ServeHTTP(w, r)
}

// Close closes the UI's Redis connection.
func (u *UI) Close() error { return u.h.Close() }
