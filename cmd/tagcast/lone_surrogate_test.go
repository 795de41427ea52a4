package main

import (
	"strings"
	"testing"

	"github.com/tagcast/tagcast/pushapi"
)

// A push body file with half an emoji's escape ("\ud83c", a JavaScript
// string cut mid-emoji) is refused at the string's path: encoding/json
// would read it as U+FFFD and push to a tag nobody has.
func TestBodyFileWithALoneSurrogateIsRefused(t *testing.T) {
	t.Parallel()
	body := `{"platform": ["ios"], "fromuserid": "system", "audience": {"tag": ["vip", "vip-\ud83c"]},
	  "message": {"objectName": "AppNote", "content": "hi"}, "notification": {"alert": "hi \ud83d\ude00"}}`
	var req pushapi.Request
	problems, err := decodeBody("body.json", []byte(body), &req)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Path != "audience.tag[1]" || !strings.Contains(problems[0].Rule, "surrogate") {
		t.Fatalf("problems %+v, want one at audience.tag[1] about the lone surrogate (the emoji's pair is fine)", problems)
	}
}
