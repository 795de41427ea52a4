package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tagcast/tagcast/admin"
)

// A request that reached the server whose answer was lost (the connection
// closed after the request) is not "unreachable": the pause, cancel or
// unblock may have been carried out, and the error says so. A connection
// never made still is unreachable.
func TestLostAnswerIsNotCalledUnreachable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close() // the request was read; no answer
		}
	}))
	t.Cleanup(srv.Close)
	c, err := admin.NewClient(srv.URL, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PauseCampaign(context.Background(), 7)
	var ue *admin.UnreachableError
	if !errors.As(err, &ue) || !admin.OutcomeUnknown(err) || !strings.Contains(err.Error(), "did not answer (the request may have been carried out") {
		t.Errorf("pause whose answer was lost: %v; want it said the request may have been carried out", err)
	}
	srv.Close()
	_, err = c.PauseCampaign(context.Background(), 7)
	if !errors.As(err, &ue) || admin.OutcomeUnknown(err) || !strings.Contains(err.Error(), "is unreachable") {
		t.Errorf("pause on a closed server: %v; want unreachable", err)
	}
}
