package emulator_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// An emulator behind httptest, the real client, a push by tag, and what the
// emulator recorded.
func Example() {
	em, err := emulator.New(emulator.Config{Apps: []emulator.AppConfig{{AppKey: "key", Secret: "secret"}}})
	if err != nil {
		panic(err)
	}
	em.SetNow(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	srv := httptest.NewServer(em)
	defer srv.Close()

	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: "key", AppSecret: pushapi.NewSecret("secret"), Hosts: []string{srv.URL}, Now: em.Now,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = client.SetUserTags(ctx, "amy", []string{"vip", "北京"})
	_ = client.SetUserTags(ctx, "bob", []string{"vip"})
	_, err = client.Push(ctx, &pushapi.Request{
		Platform:     []string{"ios", "android"},
		FromUserID:   "system",
		Audience:     pushapi.Audience{Tag: []string{"vip"}, TagOr: []string{"北京"}},
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"30% off"}`},
		Notification: &pushapi.Notification{Title: "Sale", Alert: "30% off"},
	})
	fmt.Println("push error:", err)
	p := em.Pushes()[0]
	fmt.Println("recipients:", p.Recipients)
	fmt.Println("android:", p.Notifications["android"].Alert)
	qs, _ := em.QuotaState("key")
	fmt.Printf("quota: %d of %d this hour\n", qs.UsedHour, qs.Hourly)
	// Output:
	// push error: <nil>
	// recipients: [amy]
	// android: 30% off
	// quota: 1 of 2 this hour
}
