package pushapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// validRequest is a small valid push; each case breaks it.
func validRequest() *Request {
	return &Request{
		Platform:     []string{"ios", "android"},
		FromUserID:   "system",
		Audience:     Audience{Tag: []string{"女", "年轻"}},
		Message:      &Message{ObjectName: "RC:TxtMsg", Content: `{"content":"hello"}`},
		Notification: &Notification{Title: "Sale", Alert: "30% off"},
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// pc is a problem reduced to path and code, for compact tables.
type pc struct {
	Path string
	Code int
}

func problemsOf(t *testing.T, err error) []pc {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %T %v is not a *ValidationError", err, err)
	}
	out := make([]pc, len(ve.Problems))
	for i, p := range ve.Problems {
		if p.Rule == "" {
			t.Errorf("problem at %q has no rule", p.Path)
		}
		out[i] = pc{p.Path, p.Code}
	}
	return out
}

func TestRequestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *Request)
		want   []pc
	}{
		{"valid", func(*Request) {}, nil},
		{"platform missing", func(r *Request) { r.Platform = nil }, []pc{{"platform", 1002}}},
		{"platform bad value and case and duplicate", func(r *Request) { r.Platform = []string{"iOS", "web", "android", "android"} },
			[]pc{{"platform[0]", 1002}, {"platform[1]", 1002}, {"platform[3]", 1002}}},
		{"fromuserid required", func(r *Request) { r.FromUserID = "" }, []pc{{"fromuserid", 1002}}},
		{"message required", func(r *Request) { r.Message = nil }, []pc{{"message", 1002}}},
		{"fromuserid and message required", func(r *Request) { r.FromUserID = ""; r.Message = nil }, []pc{{"fromuserid", 1002}, {"message", 1002}}},
		{"fromuserid too long", func(r *Request) { r.FromUserID = strings.Repeat("x", 65) }, []pc{{"fromuserid", 1005}}},
		{"1000 user ids ok", func(r *Request) { r.Audience.UserID = ids(1000) }, nil},
		{"1001 user ids", func(r *Request) { r.Audience.UserID = ids(1001) }, []pc{{"audience.userid", 1002}}},
		{"21 tags and 21 tag_or", func(r *Request) { r.Audience.Tag = ids(21); r.Audience.TagOr = ids(21) },
			[]pc{{"audience.tag", 1002}, {"audience.tag_or", 1002}}},
		{"empty items", func(r *Request) { r.Audience.Tag = []string{"a", ""}; r.Audience.UserID = []string{" "} },
			[]pc{{"audience.userid[0]", 1002}, {"audience.tag[1]", 1002}}},
		{"audience selects nobody", func(r *Request) { r.Audience = Audience{} }, []pc{{"audience", 1002}}},
		{"packageName alone selects", func(r *Request) { r.Audience = Audience{PackageName: "com.x"} }, nil},
		{"is_to_all alone selects", func(r *Request) { r.Audience = Audience{IsToAll: true} }, nil},
		{"content required", func(r *Request) { r.Message.Content = "" }, []pc{{"message.content", 1002}}},
		{"content 128 KB ok", func(r *Request) {
			r.Message.ObjectName = "App:Custom"
			r.Message.Content = strings.Repeat("x", 128*1024)
		}, nil},
		{"content over 128 KB", func(r *Request) {
			r.Message.ObjectName = "App:Custom"
			r.Message.Content = strings.Repeat("x", 128*1024+1)
		},
			[]pc{{"message.content", 1005}}},
		{"objectName required", func(r *Request) { r.Message.ObjectName = "" }, []pc{{"message.objectName", 1002}}},
		{"objectName unknown RC type", func(r *Request) { r.Message.ObjectName = "RC:NoSuchMsg" }, []pc{{"message.objectName", 1002}}},
		{"objectName built-in image", func(r *Request) { r.Message.ObjectName = "RC:ImgMsg" }, nil},
		{"custom objectName 32 chars ok", func(r *Request) { r.Message.ObjectName = strings.Repeat("名", 32) }, nil},
		{"custom objectName 33 chars", func(r *Request) { r.Message.ObjectName = strings.Repeat("a", 33) }, []pc{{"message.objectName", 1005}}},
		{"TxtMsg content not JSON", func(r *Request) { r.Message.Content = "hello" }, []pc{{"message.content", 1002}}},
		{"TxtMsg content without content field", func(r *Request) { r.Message.Content = `{"extra":"x"}` }, []pc{{"message.content", 1002}}},
		{"TxtMsg content field not a string", func(r *Request) { r.Message.Content = `{"content":null}` }, []pc{{"message.content", 1002}}},
		{"TxtMsg content a JSON array", func(r *Request) { r.Message.Content = `["content"]` }, []pc{{"message.content", 1002}}},
		{"custom type content any format", func(r *Request) { r.Message.ObjectName = "App:Promo"; r.Message.Content = "plain" }, nil},
		{"notification required", func(r *Request) { r.Notification = nil }, []pc{{"notification", 1002}}},
		{"title 50 chars ok", func(r *Request) { r.Notification.Title = strings.Repeat("标", 50) }, nil},
		{"title 51 chars", func(r *Request) { r.Notification.Title = strings.Repeat("标", 51) }, []pc{{"notification.title", 1005}}},
		{"alert missing everywhere", func(r *Request) { r.Notification.Alert = "" },
			[]pc{{"notification.ios.alert", 1002}, {"notification.android.alert", 1002}}},
		{"alert per platform ok", func(r *Request) {
			r.Notification.Alert = ""
			r.Notification.IOS = &IOSNotification{Alert: "a"}
			r.Notification.Android = &AndroidNotification{Alert: "b"}
		}, nil},
		{"alert only for ios while android targeted", func(r *Request) {
			r.Notification.Alert = ""
			r.Notification.IOS = &IOSNotification{Alert: "a"}
		}, []pc{{"notification.android.alert", 1002}}},
		{"alert only for ios, only ios targeted", func(r *Request) {
			r.Platform = []string{"ios"}
			r.Notification.Alert = ""
			r.Notification.IOS = &IOSNotification{Alert: "a"}
		}, nil},
		{"badge 9999 and 0 and negative ok", func(r *Request) { r.Notification.IOS = &IOSNotification{Badge: ptr(9999)} }, nil},
		{"badge negative clears", func(r *Request) { r.Notification.IOS = &IOSNotification{Badge: ptr(-1)} }, nil},
		{"badge 10000", func(r *Request) { r.Notification.IOS = &IOSNotification{Badge: ptr(10000)} }, []pc{{"notification.ios.badge", 1002}}},
		{"ios enums", func(r *Request) {
			r.Notification.IOS = &IOSNotification{InterruptionLevel: "urgent", ContentAvailable: ptr(2)}
			r.Notification.ForceShowPushContent = ptr(3)
		}, []pc{{"notification.forceShowPushContent", 1002}, {"notification.ios.contentAvailable", 1002}, {"notification.ios.interruption-level", 1002}}},
		{"ios enums ok", func(r *Request) {
			r.Notification.IOS = &IOSNotification{InterruptionLevel: "time-sensitive", ContentAvailable: ptr(0)}
		}, nil},
		{"android enums", func(r *Request) {
			r.Notification.Android = &AndroidNotification{
				Honor: &Honor{Importance: "HIGH"}, HW: &HW{Importance: "normal"},
				Oppo: &Oppo{NotifyLevel: ptr(3)}, Vivo: &Vivo{Classification: "2"},
			}
		}, []pc{{"notification.android.honor.importance", 1002}, {"notification.android.hw.importance", 1002},
			{"notification.android.oppo.notify_level", 1002}, {"notification.android.vivo.classification", 1002}}},
		{"android enums ok", func(r *Request) {
			r.Notification.Android = &AndroidNotification{
				Honor: &Honor{Importance: "LOW"}, HW: &HW{Importance: "NORMAL"},
				Oppo: &Oppo{NotifyLevel: ptr(16)}, Vivo: &Vivo{Classification: "1", Category: "IM"},
			}
		}, nil},
		{"vivo category needs classification", func(r *Request) {
			r.Notification.Android = &AndroidNotification{Vivo: &Vivo{Category: "IM"}}
		}, []pc{{"notification.android.vivo.classification", 1002}}},
		{"image URLs must be https", func(r *Request) {
			r.Notification.Android = &AndroidNotification{
				Honor: &Honor{Image: "http://example.com/a.png"}, HW: &HW{Image: "example.com/a.png"},
				Mi: &Mi{LargeIconURI: "ftp://example.com/a.png"}, FCM: &FCM{ImageURL: "http://example.com/a.png"},
			}
			r.Notification.HarmonyOS = &HarmonyOSNotification{Ohos: &Ohos{Image: "http://example.com/a.png"}}
		}, []pc{{"notification.android.honor.image", 1002}, {"notification.android.hw.image", 1002},
			{"notification.android.mi.large_icon_uri", 1002}, {"notification.harmonyOS.ohos.image", 1002}}},
		{"many problems at once", func(r *Request) {
			r.Platform = nil
			r.FromUserID = ""
			r.Audience.UserID = ids(1001)
			r.Notification.Title = strings.Repeat("t", 51)
		}, []pc{{"platform", 1002}, {"fromuserid", 1002}, {"audience.userid", 1002}, {"notification.title", 1005}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.mutate(r)
			if diff := cmp.Diff(tt.want, problemsOf(t, r.Validate())); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	r := validRequest()
	r.Audience.UserID = ids(1001)
	r.Notification.Title = strings.Repeat("t", 51)
	err := r.Validate()
	want := "invalid request (2 problems): audience.userid: at most 1000 items, got 1001; notification.title: at most 50 characters, got 51"
	if err == nil || err.Error() != want {
		t.Errorf("Error() = %v\nwant      %s", err, want)
	}
	var ve *ValidationError
	if errors.As(err, &ve) && ve.Code() != CodeParam {
		t.Errorf("Code() = %d, want the first problem's code 1002", ve.Code())
	}
	if Classify(err) != OutcomeFailed {
		t.Errorf("Classify(validation error) = %s, want failed", Classify(err))
	}
	if (*Request)(nil).Validate() == nil {
		t.Error("a nil request must be invalid")
	}
}

func TestTagRequestsValidate(t *testing.T) {
	t.Parallel()
	tags := func(n int) []string { return ids(n) }
	tests := []struct {
		name string
		err  error
		want []pc
	}{
		{"set ok", (&SetUserTagsRequest{UserID: "u1", Tags: []string{"女", "北京"}}).Validate(), nil},
		{"set clear ok", (&SetUserTagsRequest{UserID: "u1", Tags: []string{}}).Validate(), nil},
		{"set nil tags ok", (&SetUserTagsRequest{UserID: "u1"}).Validate(), nil},
		{"set 20 tags of 40 bytes ok", (&SetUserTagsRequest{UserID: "u1", Tags: []string{strings.Repeat("x", 40)}}).Validate(), nil},
		{"set problems", (&SetUserTagsRequest{UserID: "", Tags: append(tags(20), strings.Repeat("北", 14), "")}).Validate(),
			[]pc{{"userId", 1002}, {"tags", 1002}, {"tags[20]", 1005}, {"tags[21]", 1002}}},
		{"batch ok", (&BatchSetUserTagsRequest{UserIDs: ids(1000), Tags: []string{"a"}}).Validate(), nil},
		{"batch too many", (&BatchSetUserTagsRequest{UserIDs: ids(1001)}).Validate(), []pc{{"userIds", 1002}}},
		{"batch none", (&BatchSetUserTagsRequest{}).Validate(), []pc{{"userIds", 1002}}},
		{"batch empty id", (&BatchSetUserTagsRequest{UserIDs: []string{"a", ""}}).Validate(), []pc{{"userIds[1]", 1002}}},
		{"get ok", ValidateGetUserTags(ids(50)), nil},
		{"get 51", ValidateGetUserTags(ids(51)), []pc{{"userIds", 1002}}},
		{"get none", ValidateGetUserTags(nil), []pc{{"userIds", 1002}}},
		{"get empty id", ValidateGetUserTags([]string{""}), []pc{{"userIds[0]", 1002}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, problemsOf(t, tt.err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinObjectNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"RC:TxtMsg", "RC:ImgMsg", "RC:VcMsg", "RC:HQVCMsg", "RC:ImgTextMsg", "RC:FileMsg",
		"RC:LBSMsg", "RC:SightMsg", "RC:CombineMsg", "RC:GIFMsg", "RC:ReferenceMsg"} {
		if !IsBuiltinObjectName(name) {
			t.Errorf("%s must be built in", name)
		}
	}
	names := BuiltinObjectNames()
	names[0] = "changed"
	if !IsBuiltinObjectName("RC:TxtMsg") {
		t.Error("BuiltinObjectNames must return a copy")
	}
}
