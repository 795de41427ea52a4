package pushapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// Documented limits of the Server API (push-by-tag.txt and push-api-facts.md).
// They are the single source of truth for the client, the CLI and the
// emulator.
const (
	MaxUserIDs               = 1000       // audience.userid items per push
	MaxAudienceTags          = 20         // audience.tag and audience.tag_or items each
	MaxContentBytes          = 128 * 1024 // message.content, bytes ("128k")
	MaxCustomObjectNameChars = 32         // custom message.objectName, characters
	MaxTitleChars            = 50         // notification.title, characters
	MaxBadge                 = 9999       // notification.ios.badge
	MaxFromUserIDBytes       = 64         // fromuserid, bytes
	MaxTagsPerUser           = 20         // user tag APIs: tags per user
	MaxTagBytes              = 40         // user tag APIs: bytes per tag
	MaxBatchTagUsers         = 1000       // /user/tag/batch/set.json userIds
	MaxGetTagUsers           = 50         // /user/tags/get.json userIds
	// MaxBodyBytes bounds one encoded /push.json body (and a tag API call's
	// body, which the emulator bounds alike). The service documents
	// no such limit, only per-field ones, and notification.alert has none;
	// this one is the project's, shared by the client (which refuses a
	// bigger body before sending) and the emulator (which answers 1005 to a
	// bigger body received), so that the two agree. It bounds the bytes on
	// the wire: the client's encoding (Request.Encode) writes '<', '>' and
	// '&' as themselves, not as 6-byte \u003c escapes, and the emulator
	// measures the body it received, never a re-encoding of it.
	MaxBodyBytes = 1 << 20
)

// builtinObjectNames are the service's predefined message types (its
// "Message Type Overview"): user content messages, notification messages and
// the command message. Any other objectName starting with "RC:" is rejected;
// a custom type must not start with "RC:" and has at most 32 characters.
var builtinObjectNames = []string{
	// User content messages.
	"RC:TxtMsg",       // text; content {"content": "...", "extra": "..."}
	"RC:ImgMsg",       // image
	"RC:GIFMsg",       // GIF image
	"RC:VcMsg",        // voice (legacy, AMR)
	"RC:HQVCMsg",      // high-quality voice
	"RC:FileMsg",      // file
	"RC:SightMsg",     // short video
	"RC:LBSMsg",       // location
	"RC:ImgTextMsg",   // image and text (rich content)
	"RC:ReferenceMsg", // quote / reply
	"RC:CombineMsg",   // combined forward
	"RC:CombineV2Msg", // combined forward, v2
	// Notification and command messages.
	"RC:RcNtf",         // recall notification
	"RC:ContactNtf",    // contact (friend) notification
	"RC:ProfileNtf",    // profile notification
	"RC:CmdNtf",        // command notification
	"RC:InfoNtf",       // small grey-bar notification
	"RC:GrpNtf",        // group notification
	"RC:DizNtf",        // discussion notification
	"RC:CmdMsg",        // command message
	"RC:chrmKVNotiMsg", // chatroom KV notification (the SDKs' spelling)
	"RC:ChrmKVNotiMsg", // the same, as one server SDK spells it
}

// BuiltinObjectNames returns a copy of the predefined message types accepted
// as message.objectName.
func BuiltinObjectNames() []string { return slices.Clone(builtinObjectNames) }

// IsBuiltinObjectName reports whether name is one of the predefined types.
func IsBuiltinObjectName(name string) bool { return slices.Contains(builtinObjectNames, name) }

// FieldError is one violated rule: the JSON path of the field ("audience.userid",
// "audience.tag[3]"), the rule in words, and the service code the real service
// would answer with (CodeParam 1002, or CodeTooLong 1005 for a value that is
// too long).
type FieldError struct {
	Path string `json:"path"`
	Rule string `json:"rule"`
	Code int    `json:"code"`
}

// String returns "path: rule".
func (f FieldError) String() string { return f.Path + ": " + f.Rule }

// ValidationError lists every violated rule of one request, in field order.
type ValidationError struct {
	Problems []FieldError `json:"problems"`
}

// Error lists the problems as "path: rule", separated by "; " (the first
// MaxListedProblems of them, the rest counted; Problems holds all).
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return ProblemsMessage("request", parts)
}

// Code is the service code of the first problem (what the real service would
// answer), or CodeParam when there is none.
func (e *ValidationError) Code() int {
	if len(e.Problems) == 0 {
		return CodeParam
	}
	return e.Problems[0].Code
}

// problems collects FieldErrors while walking a request.
type problems []FieldError

func (p *problems) add(path string, code int, format string, args ...any) {
	*p = append(*p, FieldError{Path: path, Rule: fmt.Sprintf(format, args...), Code: code})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Validate checks every documented rule of /push.json and returns nil or a
// *ValidationError listing all violations at once:
//   - platform: required, each "ios" or "android" (lowercase), no duplicates;
//   - fromuserid: required, 1..64 bytes;
//   - audience: it must select somebody (is_to_all, userid, tag, tag_or or
//     packageName); unless is_to_all is true, at most 1000 userid, 20 tag,
//     20 tag_or and no empty items (is_to_all: true ignores the other
//     conditions, so their values are not checked, only sent as they are);
//   - message: required; content required and at most 128 KB; objectName a
//     built-in type (BuiltinObjectNames) or a custom one not starting with
//     "RC:" of at most 32 characters; built-in types' content a JSON object
//     (RC:TxtMsg's with a string "content"), custom types' any text;
//   - notification: required; title at most 50 characters; forceShowPushContent
//     0 or 1; an alert either at notification level or for every targeted
//     platform (notification.ios.alert, notification.android.alert);
//   - ios: contentAvailable 0 or 1, badge at most 9999, interruption-level one
//     of passive, active, time-sensitive, critical;
//   - android: honor and hw importance NORMAL or LOW, hw category uppercase
//     letters (underscores allowed, as in DEVICE_REMINDER), oppo notify_level 1, 2 or
//     16, vivo classification "0" or "1" (and set when vivo.category is set);
//   - image URLs (honor.image, hw.image, harmonyOS.ohos.image) must be https;
//     mi.large_icon_uri, fcm.imageUrl and ios.richMediaUri absolute http(s) URLs;
//   - every text (extras' keys and values included) valid UTF-8 without NUL;
//   - the body, encoded as Encode encodes it, at most MaxBodyBytes.
func (r *Request) Validate() error {
	_, err := r.Encode()
	return err
}

// ValidateFields checks each field's rules (Validate's list but the last)
// without encoding the request: it applies no MaxBodyBytes limit, and does
// not try the encoding (a request decoded from JSON always encodes). It is
// for a receiver that holds the body as sent and applies MaxBodyBytes to
// those bytes, as the emulator does: a re-encoding of a decoded body is not
// what was sent, and its size says nothing about the sender's. A client
// sending r calls Validate, or Encode.
func (r *Request) ValidateFields() error {
	if r == nil {
		return nilRequestError()
	}
	return r.fieldProblems().err()
}

// Encode runs Validate's checks and, when they pass, returns the body as
// it goes on the wire (what Push sends), refusing one over MaxBodyBytes.
// It is JSON without HTML escaping ('<' is one byte, not \u003c; most JSON
// encoders outside Go do not escape it either) and without a trailing
// newline.
func (r *Request) Encode() ([]byte, error) {
	if r == nil {
		return nil, nilRequestError()
	}
	p := r.fieldProblems()
	if len(p) > 0 {
		return nil, p.err()
	}
	body, err := encodeJSON(r)
	if err != nil {
		// checkUTF8 refuses every value known to fail here; anything else
		// (a channel in extras, say) is as permanent: a validation error,
		// so the send fails instead of being retried.
		p.add("body", CodeParam, "cannot be encoded as JSON: %v", err)
		return nil, p.err()
	}
	if len(body) > MaxBodyBytes {
		p.add("body", CodeTooLong, "at most %d bytes encoded, got %d", MaxBodyBytes, len(body))
		return nil, p.err()
	}
	return body, nil
}

// encodeJSON is json.Marshal without HTML escaping: json.Marshal writes
// '<', '>' and '&' as 6-byte \u003c sequences, which would make a body of
// markup up to six times its size on the wire and against MaxBodyBytes.
// The JSON means the same; no trailing newline (json.Encoder's), so the
// bytes are exactly the document.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func nilRequestError() error {
	return &ValidationError{Problems: []FieldError{{Path: "", Rule: "request body is required", Code: CodeNoPostData}}}
}

// fieldProblems checks each field's rules (everything ValidateFields and
// Validate check but the encoded size).
func (r *Request) fieldProblems() problems {
	var p problems
	r.validatePlatform(&p)
	switch n := len(r.FromUserID); {
	case n == 0:
		p.add("fromuserid", CodeParam, "required (the sender's user id)")
	case n > MaxFromUserIDBytes:
		p.add("fromuserid", CodeTooLong, "at most %d bytes, got %d", MaxFromUserIDBytes, n)
	}
	r.Audience.validate(&p)
	if r.Message == nil {
		p.add("message", CodeParam, "required (objectName and content)")
	} else {
		r.Message.validate(&p)
	}
	if r.Notification == nil {
		p.add("notification", CodeParam, "required")
	} else {
		r.Notification.validate(&p, r.Platform)
	}
	checkUTF8(&p, "", reflect.ValueOf(r).Elem())
	return p
}

func (r *Request) validatePlatform(p *problems) {
	if len(r.Platform) == 0 {
		p.add("platform", CodeParam, `required: one or both of "ios", "android"`)
		return
	}
	seen := map[string]bool{}
	for i, v := range r.Platform {
		path := fmt.Sprintf("platform[%d]", i)
		switch {
		case v != PlatformIOS && v != PlatformAndroid:
			hint := ""
			if l := strings.ToLower(v); l == PlatformIOS || l == PlatformAndroid {
				hint = fmt.Sprintf(" (write %q in lowercase)", l)
			}
			p.add(path, CodeParam, `must be "ios" or "android", got %q%s`, v, hint)
		case seen[v]:
			p.add(path, CodeParam, "duplicate platform %q", v)
		}
		seen[v] = true
	}
}

func (a *Audience) validate(p *problems) {
	if a.IsToAll {
		// push-by-tag.txt: "If is_to_all is true, other conditions are
		// ignored"; userid, tag and tag_or are each "Invalid if is_to_all
		// is true". The service pushes to all users whatever they hold, so
		// their limits do not apply. (Their text is still checked as valid
		// UTF-8 without NUL, by checkUTF8: it is sent.)
		return
	}
	checkList := func(name string, items []string, limit int) {
		if len(items) > limit {
			p.add("audience."+name, CodeParam, "at most %d items, got %d", limit, len(items))
		}
		for i, v := range items {
			if strings.TrimSpace(v) == "" {
				p.add(fmt.Sprintf("audience.%s[%d]", name, i), CodeParam, "must not be empty")
			}
		}
	}
	checkList("userid", a.UserID, MaxUserIDs)
	checkList("tag", a.Tag, MaxAudienceTags)
	checkList("tag_or", a.TagOr, MaxAudienceTags)
	if len(a.UserID) == 0 && len(a.Tag) == 0 && len(a.TagOr) == 0 && a.PackageName == "" {
		p.add("audience", CodeParam, "selects nobody: set userid, tag, tag_or or packageName, or is_to_all: true")
	}
}

func (m *Message) validate(p *problems) {
	switch n := len(m.Content); {
	case n == 0:
		p.add("message.content", CodeParam, "required")
	case n > MaxContentBytes:
		p.add("message.content", CodeTooLong, "at most %d bytes (128 KB), got %d", MaxContentBytes, n)
	}
	switch name := m.ObjectName; {
	case name == "":
		p.add("message.objectName", CodeParam, "required")
	case strings.HasPrefix(name, "RC:"):
		if !IsBuiltinObjectName(name) {
			p.add("message.objectName", CodeParam, "%q is not a built-in type (custom types must not start with \"RC:\")", name)
		}
	case utf8.RuneCountInString(name) > MaxCustomObjectNameChars:
		p.add("message.objectName", CodeTooLong, "a custom type has at most %d characters, got %d", MaxCustomObjectNameChars, utf8.RuneCountInString(name))
	}
	if IsBuiltinObjectName(m.ObjectName) && m.ObjectName != "RC:TxtMsg" && m.Content != "" && len(m.Content) <= MaxContentBytes {
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(m.Content), &body); err != nil || body == nil {
			p.add("message.content", CodeParam, "%s is a built-in type: its content must be a JSON object", m.ObjectName)
		}
	}
	if m.ObjectName == "RC:TxtMsg" && m.Content != "" && len(m.Content) <= MaxContentBytes {
		var body map[string]json.RawMessage
		if err := json.Unmarshal([]byte(m.Content), &body); err != nil {
			p.add("message.content", CodeParam, `RC:TxtMsg content must be a JSON object like {"content":"..."}: %v`, err)
		} else if raw, ok := body["content"]; !ok {
			p.add("message.content", CodeParam, `RC:TxtMsg content must have a "content" field`)
		} else if !isJSONString(raw) {
			p.add("message.content", CodeParam, `RC:TxtMsg "content" must be a string`)
		}
	}
}

func (n *Notification) validate(p *problems, platforms []string) {
	if c := utf8.RuneCountInString(n.Title); c > MaxTitleChars {
		p.add("notification.title", CodeTooLong, "at most %d characters, got %d", MaxTitleChars, c)
	}
	checkZeroOne(p, "notification.forceShowPushContent", n.ForceShowPushContent)
	if n.Alert == "" {
		for _, pl := range platforms {
			switch {
			case pl == PlatformIOS && (n.IOS == nil || n.IOS.Alert == ""):
				p.add("notification.ios.alert", CodeParam, "required for platform ios when notification.alert is empty")
			case pl == PlatformAndroid && (n.Android == nil || n.Android.Alert == ""):
				p.add("notification.android.alert", CodeParam, "required for platform android when notification.alert is empty")
			}
		}
	}
	if n.IOS != nil {
		n.IOS.validate(p)
	}
	if n.Android != nil {
		n.Android.validate(p)
	}
	if n.HarmonyOS != nil && n.HarmonyOS.Ohos != nil {
		checkURL(p, "notification.harmonyOS.ohos.image", n.HarmonyOS.Ohos.Image, true)
	}
}

var interruptionLevels = []string{"passive", "active", "time-sensitive", "critical"}

func (o *IOSNotification) validate(p *problems) {
	checkZeroOne(p, "notification.ios.contentAvailable", o.ContentAvailable)
	if o.Badge != nil && *o.Badge > MaxBadge {
		p.add("notification.ios.badge", CodeParam, "at most %d, got %d", MaxBadge, *o.Badge)
	}
	if o.InterruptionLevel != "" && !slices.Contains(interruptionLevels, o.InterruptionLevel) {
		p.add("notification.ios.interruption-level", CodeParam, "must be one of %s, got %q", strings.Join(interruptionLevels, ", "), o.InterruptionLevel)
	}
	checkURL(p, "notification.ios.richMediaUri", o.RichMediaURI, false)
}

var importances = []string{"NORMAL", "LOW"}

func (a *AndroidNotification) validate(p *problems) {
	if a.Honor != nil {
		checkEnum(p, "notification.android.honor.importance", a.Honor.Importance, importances)
		checkURL(p, "notification.android.honor.image", a.Honor.Image, true)
	}
	if a.HW != nil {
		checkEnum(p, "notification.android.hw.importance", a.HW.Importance, importances)
		checkURL(p, "notification.android.hw.image", a.HW.Image, true)
		if c := a.HW.Category; c != "" && strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" {
			p.add("notification.android.hw.category", CodeParam, "must be uppercase letters (e.g. IM, VOIP), got %q", c)
		}
	}
	if a.Mi != nil {
		checkURL(p, "notification.android.mi.large_icon_uri", a.Mi.LargeIconURI, false)
	}
	if a.Oppo != nil && a.Oppo.NotifyLevel != nil {
		if l := *a.Oppo.NotifyLevel; l != 1 && l != 2 && l != 16 {
			p.add("notification.android.oppo.notify_level", CodeParam, "must be 1, 2 or 16, got %d", l)
		}
	}
	if a.Vivo != nil {
		checkEnum(p, "notification.android.vivo.classification", a.Vivo.Classification, []string{"0", "1"})
		if a.Vivo.Category != "" && a.Vivo.Classification == "" {
			p.add("notification.android.vivo.classification", CodeParam, "required when vivo.category is set")
		}
	}
	if a.FCM != nil {
		checkURL(p, "notification.android.fcm.imageUrl", a.FCM.ImageURL, false)
	}
}

func isJSONString(raw json.RawMessage) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && len(raw) > 0 && raw[0] == '"'
}

func checkZeroOne(p *problems, path string, v *int) {
	if v != nil && *v != 0 && *v != 1 {
		p.add(path, CodeParam, "must be 0 or 1, got %d", *v)
	}
}

func checkEnum(p *problems, path, v string, allowed []string) {
	if v != "" && !slices.Contains(allowed, v) {
		p.add(path, CodeParam, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

// checkURL accepts an empty value; otherwise the value must be an absolute URL
// with a host, https only when httpsOnly (the documented image fields).
func checkURL(p *problems, path, v string, httpsOnly bool) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "":
		p.add(path, CodeParam, "must be an absolute URL, got %q", v)
	case httpsOnly && u.Scheme != "https":
		p.add(path, CodeParam, "must be an https URL, got scheme %q", u.Scheme)
	case !httpsOnly && u.Scheme != "https" && u.Scheme != "http":
		p.add(path, CodeParam, "must be an http(s) URL, got scheme %q", u.Scheme)
	}
}

// Validate checks a /user/tag/set.json request: userId required; at most 20
// tags, each non-empty and at most 40 bytes. An empty Tags clears the user's
// tags and is valid.
func (r *SetUserTagsRequest) Validate() error {
	var p problems
	if strings.TrimSpace(r.UserID) == "" {
		p.add("userId", CodeParam, "required")
	}
	validateTags(&p, r.Tags)
	checkUTF8(&p, "", reflect.ValueOf(r).Elem())
	return p.err()
}

// Validate checks a /user/tag/batch/set.json request: 1..1000 userIds, each
// non-empty; tags as in SetUserTagsRequest.
func (r *BatchSetUserTagsRequest) Validate() error {
	var p problems
	validateUserIDs(&p, r.UserIDs, MaxBatchTagUsers)
	validateTags(&p, r.Tags)
	checkUTF8(&p, "", reflect.ValueOf(r).Elem())
	return p.err()
}

// ValidateGetUserTags checks the userIds of a /user/tags/get.json request:
// 1..50 ids, each non-empty.
func ValidateGetUserTags(userIDs []string) error {
	var p problems
	validateUserIDs(&p, userIDs, MaxGetTagUsers)
	// As the set requests check theirs: the ids go to the service as text.
	checkUTF8(&p, "", reflect.ValueOf(&struct {
		UserIDs []string `json:"userIds"`
	}{userIDs}).Elem())
	return p.err()
}

func validateUserIDs(p *problems, ids []string, limit int) {
	switch {
	case len(ids) == 0:
		p.add("userIds", CodeParam, "at least one user id is required")
	case len(ids) > limit:
		p.add("userIds", CodeParam, "at most %d items, got %d", limit, len(ids))
	}
	for i, id := range ids {
		if strings.TrimSpace(id) == "" {
			p.add(fmt.Sprintf("userIds[%d]", i), CodeParam, "must not be empty")
		}
	}
}

func validateTags(p *problems, tags []string) {
	if len(tags) > MaxTagsPerUser {
		p.add("tags", CodeParam, "at most %d tags per user, got %d", MaxTagsPerUser, len(tags))
	}
	for i, t := range tags {
		path := fmt.Sprintf("tags[%d]", i)
		switch {
		case strings.TrimSpace(t) == "":
			p.add(path, CodeParam, "must not be empty")
		case len(t) > MaxTagBytes:
			p.add(path, CodeTooLong, "at most %d bytes, got %d", MaxTagBytes, len(t))
		}
	}
}
