package pushapi

import (
	"strings"
	"testing"
)

// push-by-tag.txt, notification.android: "hw.category String No
// Self-classification ID for Huawei Push messages. Use uppercase letters,
// e.g., IM."
func TestHWCategoryUppercase(t *testing.T) {
	t.Parallel()
	for _, cat := range []string{"im", "Im", "voip", "IM!"} {
		r := validRequest()
		r.Notification.Android = &AndroidNotification{HW: &HW{Category: cat}}
		err := r.Validate()
		if err == nil {
			t.Errorf("hw.category %q accepted; the doc wants uppercase letters", cat)
			continue
		}
		if !strings.Contains(err.Error(), "notification.android.hw.category") {
			t.Errorf("hw.category %q: error does not name the field: %v", cat, err)
		}
	}
	for _, cat := range []string{"IM", "VOIP", "DEVICE_REMINDER"} {
		r := validRequest()
		r.Notification.Android = &AndroidNotification{HW: &HW{Category: cat}}
		if err := r.Validate(); err != nil {
			t.Errorf("hw.category %q rejected: %v", cat, err)
		}
	}
}

// push-by-tag.txt, message.content: "Built-in messages use JSON. See Message
// Type Overview for examples. Custom messages can use any format."
// Only RC:TxtMsg content is checked; other built-in types accept any text.
func TestBuiltinContentIsJSON(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"RC:ImgMsg", "RC:InfoNtf", "RC:CmdMsg", "RC:LBSMsg"} {
		for _, content := range []string{"hello", `["a"]`, `{"content":"x"`} {
			r := validRequest()
			r.Message = &Message{ObjectName: name, Content: content}
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), "message.content") {
				t.Errorf("%s with content %q: got %v, want a message.content problem (built-in types use JSON)", name, content, err)
			}
		}
		r := validRequest()
		r.Message = &Message{ObjectName: name, Content: `{"content":"x","imageUri":"https://example.com/a.png"}`}
		if err := r.Validate(); err != nil {
			t.Errorf("%s with a JSON object: %v", name, err)
		}
	}
	r := validRequest()
	r.Message = &Message{ObjectName: "App:Custom", Content: "any format at all"}
	if err := r.Validate(); err != nil {
		t.Errorf("custom type with free text: %v", err)
	}
}
