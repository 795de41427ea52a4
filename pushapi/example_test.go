package pushapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/tagcast/tagcast/pushapi"
)

// A push by tag through a stand-in service. In production, set DataCenter
// (or Hosts) and the App Secret from the environment.
func Example() {
	// A stand-in for the push service: checks the signature, answers success.
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := pushapi.Sign("my-app-secret", r.Header.Get("Nonce"), r.Header.Get("Timestamp"))
		if r.Header.Get("Signature") != want {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":1004,"errorMessage":"signature error"}`)
			return
		}
		fmt.Fprint(w, `{"code":200,"id":"5FGT-7VA9-G4DD-4V5P","messageUID":"5FGT-7VA9-G4DD-4V5P"}`)
	}))
	defer svc.Close()

	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey:    "uwd1c0sxdlx2",
		AppSecret: pushapi.NewSecret("my-app-secret"),
		Hosts:     []string{svc.URL}, // or DataCenter: "beijing"
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := client.Push(context.Background(), &pushapi.Request{
		Platform:     []string{pushapi.PlatformIOS, pushapi.PlatformAndroid},
		FromUserID:   "system",
		Audience:     pushapi.Audience{Tag: []string{"女", "年轻"}},
		Message:      &pushapi.Message{ObjectName: "RC:TxtMsg", Content: `{"content":"Winter coat: 30% off"}`},
		Notification: &pushapi.Notification{Title: "Sale", Alert: "Winter coat: 30% off"},
	})
	switch pushapi.Classify(err) {
	case pushapi.OutcomeSent:
		fmt.Println("sent", resp.MessageUID)
	case pushapi.OutcomeRetry:
		fmt.Println("not sent, safe to retry later:", err)
	case pushapi.OutcomeRateLimited:
		fmt.Println("quota exhausted, wait for the window:", err)
	case pushapi.OutcomeFailed:
		fmt.Println("permanent failure:", err)
	case pushapi.OutcomeUnknown:
		fmt.Println("may have been sent; do not resend automatically:", err)
	}
	// Output: sent 5FGT-7VA9-G4DD-4V5P
}

func ExampleRequest_Validate() {
	var req pushapi.Request
	_ = json.Unmarshal([]byte(`{
		"platform": ["ios", "web"],
		"audience": {"userid": [], "is_to_all": false},
		"message": {"objectName": "RC:TxtMsg", "content": "not json"},
		"notification": {"title": "hello", "ios": {"badge": 0}}
	}`), &req)
	var invalid *pushapi.ValidationError
	if err := req.Validate(); errors.As(err, &invalid) {
		for _, p := range invalid.Problems {
			fmt.Printf("%s (%d): %s\n", p.Path, p.Code, p.Rule)
		}
	}
	// Output:
	// platform[1] (1002): must be "ios" or "android", got "web"
	// fromuserid (1002): required (the sender's user id)
	// audience (1002): selects nobody: set userid, tag, tag_or or packageName, or is_to_all: true
	// message.content (1002): RC:TxtMsg content must be a JSON object like {"content":"..."}: invalid character 'o' in literal null (expecting 'u')
	// notification.ios.alert (1002): required for platform ios when notification.alert is empty
}

func ExampleSign() {
	fmt.Println(pushapi.Sign("Y1W2MeFwwwRxa0", "14314", "1408710653000"))
	// Output: 30be0bbca9c9b2e27578701e9fda2358a814c88f
}
