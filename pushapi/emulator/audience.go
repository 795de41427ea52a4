package emulator

import (
	"slices"
	"strings"

	"github.com/tagcast/tagcast/pushapi"
)

// user is the emulator's record of one user of an app.
type user struct {
	tags        []string
	packageName string
}

// resolveAudience returns the recipients of a push with audience a among
// users, following the rules in the package doc. The result is never nil.
func resolveAudience(a pushapi.Audience, users map[string]*user) []string {
	if a.IsToAll {
		all := make([]string, 0, len(users))
		for id := range users {
			all = append(all, id)
		}
		slices.Sort(all)
		return all
	}
	if len(a.UserID) > 0 {
		out := make([]string, 0, len(a.UserID))
		seen := make(map[string]bool, len(a.UserID))
		for _, id := range a.UserID {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return out
	}
	out := []string{}
	if len(a.Tag) == 0 && len(a.TagOr) == 0 && a.PackageName == "" {
		return out
	}
	for id, u := range users {
		if matches(a, u) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// matches reports whether u satisfies the tag, tag_or and packageName
// conditions of a (each only when set).
func matches(a pushapi.Audience, u *user) bool {
	for _, t := range a.Tag {
		if !slices.Contains(u.tags, t) {
			return false
		}
	}
	if len(a.TagOr) > 0 && !slices.ContainsFunc(a.TagOr, func(t string) bool { return slices.Contains(u.tags, t) }) {
		return false
	}
	if a.PackageName != "" && u.packageName != a.PackageName {
		return false
	}
	return true
}

// Notification is the effective notification for one platform: what a device
// of that platform would show.
type Notification struct {
	Title string `json:"title,omitempty"`
	Alert string `json:"alert"`
}

// effectiveNotifications returns, for each platform of the request, the title
// and alert a device shows: the platform's own value when set, else the
// notification-wide one.
func effectiveNotifications(r *pushapi.Request) map[string]Notification {
	out := make(map[string]Notification, len(r.Platform))
	n := r.Notification
	if n == nil {
		n = &pushapi.Notification{}
	}
	for _, p := range r.Platform {
		switch strings.ToLower(p) {
		case pushapi.PlatformIOS:
			e := Notification{Title: n.Title, Alert: n.Alert}
			if n.IOS != nil {
				if n.IOS.Title != "" {
					e.Title = n.IOS.Title
				}
				if n.IOS.Alert != "" {
					e.Alert = n.IOS.Alert
				}
			}
			out[pushapi.PlatformIOS] = e
		case pushapi.PlatformAndroid:
			e := Notification{Title: n.Title, Alert: n.Alert}
			if n.Android != nil && n.Android.Alert != "" {
				e.Alert = n.Android.Alert
			}
			out[pushapi.PlatformAndroid] = e
		}
	}
	return out
}
