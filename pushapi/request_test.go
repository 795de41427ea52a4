package pushapi

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func loadExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/push-by-tag-request.json")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// exampleRequest is the request example of push-by-tag.txt, decoded.
func exampleRequest(t *testing.T) *Request {
	t.Helper()
	var r Request
	if err := json.Unmarshal(loadExample(t), &r); err != nil {
		t.Fatalf("unmarshal example: %v", err)
	}
	return &r
}

// jsonValue decodes a document into generic values for a structural compare.
func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func TestRequestGoldenRoundTrip(t *testing.T) {
	t.Parallel()
	golden := loadExample(t)
	out, err := json.Marshal(exampleRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonValue(t, golden), jsonValue(t, out)); diff != "" {
		t.Errorf("round trip differs from push-by-tag.txt (-doc +marshalled):\n%s", diff)
	}
}

func TestRequestExampleIsValid(t *testing.T) {
	t.Parallel()
	if err := exampleRequest(t).Validate(); err != nil {
		t.Errorf("the documented example must be valid: %v", err)
	}
}

func TestRequestMarshalOmissionsAndZeros(t *testing.T) {
	t.Parallel()
	zero, one := 0, 1
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{
			name: "minimal: unset optional fields omitted, is_to_all false sent",
			req: Request{
				Platform: []string{"ios"}, FromUserID: "sys",
				Audience:     Audience{Tag: []string{"a"}},
				Notification: &Notification{Alert: "hi"},
			},
			want: `{"platform":["ios"],"fromuserid":"sys","audience":{"tag":["a"],"is_to_all":false},"notification":{"alert":"hi"}}`,
		},
		{
			name: "explicit badge 0 and forceShowPushContent 0 survive",
			req: Request{
				Platform: []string{"ios"}, FromUserID: "sys",
				Audience:     Audience{IsToAll: true},
				Notification: &Notification{Alert: "hi", ForceShowPushContent: &zero, IOS: &IOSNotification{Badge: &zero, ContentAvailable: &one}},
			},
			want: `{"platform":["ios"],"fromuserid":"sys","audience":{"is_to_all":true},"notification":{"forceShowPushContent":0,"alert":"hi","ios":{"contentAvailable":1,"badge":0}}}`,
		},
		{
			name: "explicit empty extras survive, nil extras omitted",
			req: Request{
				Platform: []string{"android"}, FromUserID: "sys",
				Audience:     Audience{PackageName: "com.example"},
				Notification: &Notification{Alert: "hi", Android: &AndroidNotification{Extras: map[string]any{}}, IOS: &IOSNotification{}},
			},
			want: `{"platform":["android"],"fromuserid":"sys","audience":{"packageName":"com.example","is_to_all":false},"notification":{"alert":"hi","ios":{},"android":{"extras":{}}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("marshal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadgeZeroRoundTrip(t *testing.T) {
	t.Parallel()
	var r Request
	if err := json.Unmarshal([]byte(`{"notification":{"ios":{"badge":0}}}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Notification.IOS.Badge == nil || *r.Notification.IOS.Badge != 0 {
		t.Fatalf("badge 0 lost on unmarshal: %+v", r.Notification.IOS)
	}
	out, _ := json.Marshal(r.Notification.IOS)
	if string(out) != `{"badge":0}` {
		t.Errorf("badge 0 lost on marshal: %s", out)
	}
}
