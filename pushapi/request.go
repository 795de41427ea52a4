package pushapi

import (
	"bytes"
	"encoding/json"
)

// Platform values accepted in Request.Platform (lowercase, as the service
// expects them in bodies).
const (
	PlatformIOS     = "ios"
	PlatformAndroid = "android"
)

// Request is the JSON body of POST /push.json, with the service's exact field
// names (push-by-tag.txt). Required fields are always marshalled; unset
// optional fields are omitted. Pointer fields distinguish "unset" from an
// explicit zero (a badge of 0 clears the badge and must survive a round trip).
// FromUserID and Message are required (push-by-tag.txt marks fromuserid,
// message.content and message.objectName "Yes"). Extras maps use omitzero, so an explicit
// empty object {} survives while an unset (nil) map is omitted.
//
// Call Validate before sending; Client.Push does so itself.
type Request struct {
	Platform     []string      `json:"platform"`
	FromUserID   string        `json:"fromuserid"`
	Audience     Audience      `json:"audience"`
	Message      *Message      `json:"message,omitempty"`
	Notification *Notification `json:"notification,omitempty"`
}

// Audience selects the recipients. UserID wins over tags; Tag is AND, TagOr is
// OR, both together must both hold; PackageName is ANDed with the tag
// conditions; IsToAll ignores every other condition. is_to_all is always sent.
type Audience struct {
	UserID      []string `json:"userid,omitempty"`
	Tag         []string `json:"tag,omitempty"`
	TagOr       []string `json:"tag_or,omitempty"`
	PackageName string   `json:"packageName,omitempty"`
	IsToAll     bool     `json:"is_to_all"`
}

// Message is the in-app message delivered with the push.
type Message struct {
	Content              string `json:"content"`
	ObjectName           string `json:"objectName"`
	DisableUpdateLastMsg *bool  `json:"disableUpdateLastMsg,omitempty"`
}

// Notification is the push notification content per OS.
type Notification struct {
	Title                string                 `json:"title,omitempty"`
	ForceShowPushContent *int                   `json:"forceShowPushContent,omitempty"`
	Alert                string                 `json:"alert,omitempty"`
	IOS                  *IOSNotification       `json:"ios,omitempty"`
	Android              *AndroidNotification   `json:"android,omitempty"`
	HarmonyOS            *HarmonyOSNotification `json:"harmonyOS,omitempty"`
}

// IOSNotification is notification.ios.
type IOSNotification struct {
	Title             string `json:"title,omitempty"`
	ContentAvailable  *int   `json:"contentAvailable,omitempty"`
	Alert             string `json:"alert,omitempty"`
	Badge             *int   `json:"badge,omitempty"`
	ThreadID          string `json:"thread-id,omitempty"`
	APNsCollapseID    string `json:"apns-collapse-id,omitempty"`
	Category          string `json:"category,omitempty"`
	RichMediaURI      string `json:"richMediaUri,omitempty"`
	InterruptionLevel string `json:"interruption-level,omitempty"`
	Extras            Extras `json:"extras,omitzero"`
}

// AndroidNotification is notification.android.
type AndroidNotification struct {
	Alert  string `json:"alert,omitempty"`
	Honor  *Honor `json:"honor,omitempty"`
	HW     *HW    `json:"hw,omitempty"`
	Mi     *Mi    `json:"mi,omitempty"`
	Oppo   *Oppo  `json:"oppo,omitempty"`
	Vivo   *Vivo  `json:"vivo,omitempty"`
	FCM    *FCM   `json:"fcm,omitempty"`
	Extras Extras `json:"extras,omitzero"`
}

// Honor is notification.android.honor.
type Honor struct {
	Importance string `json:"importance,omitempty"` // NORMAL | LOW
	Image      string `json:"image,omitempty"`      // https URL
}

// HW is notification.android.hw (Huawei).
type HW struct {
	ChannelID  string `json:"channelId,omitempty"`
	Importance string `json:"importance,omitempty"` // NORMAL | LOW
	Image      string `json:"image,omitempty"`      // https URL
	Category   string `json:"category,omitempty"`
}

// Mi is notification.android.mi (Xiaomi).
type Mi struct {
	ChannelID    string `json:"channelId,omitempty"`
	LargeIconURI string `json:"large_icon_uri,omitempty"`
}

// Oppo is notification.android.oppo.
type Oppo struct {
	ChannelID   string `json:"channelId,omitempty"`
	Category    string `json:"category,omitempty"`
	NotifyLevel *int   `json:"notify_level,omitempty"` // 1 | 2 | 16
}

// Vivo is notification.android.vivo.
type Vivo struct {
	Classification string `json:"classification,omitempty"` // "0" | "1"
	Category       string `json:"category,omitempty"`
}

// FCM is notification.android.fcm.
type FCM struct {
	ChannelID   string `json:"channelId,omitempty"`
	CollapseKey string `json:"collapse_key,omitempty"`
	ImageURL    string `json:"imageUrl,omitempty"`
}

// HarmonyOSNotification is notification.harmonyOS.
type HarmonyOSNotification struct {
	Alert  string `json:"alert,omitempty"`
	Ohos   *Ohos  `json:"ohos,omitempty"`
	Extras Extras `json:"extras,omitzero"`
}

// Ohos is notification.harmonyOS.ohos.
type Ohos struct {
	Category string `json:"category,omitempty"`
	Image    string `json:"image,omitempty"` // https URL
}

// Extras is an extras object: free JSON for the app. Its numbers decode as
// json.Number, not float64, so an integer beyond 2^53 (an order id, say)
// reaches the service digit for digit, whether the request comes from a
// file, the admin API or the store.
type Extras map[string]any

// UnmarshalJSON decodes an object keeping every number's literal text.
func (x *Extras) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*x = m
	return nil
}
