package campaign

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/tagcast/tagcast/pushapi"
)

// MaxUserIDsPerSend is the service's limit on audience.userid per call.
const MaxUserIDsPerSend = 1000

// TemplateData is what templates see: {{.FireTime.Format "15:04"}},
// {{.Vars.product}}, {{.Campaign.Name}}.
type TemplateData struct {
	FireTime time.Time      // the Run's scheduled instant, in the schedule's zone
	Vars     map[string]any // the campaign's vars; an unknown key is an error
	Campaign TemplateCampaign
}

// TemplateCampaign is the part of the campaign templates may use.
type TemplateCampaign struct {
	ID   int64
	Name string
	App  string
}

// templateField is one text field of the body that may hold a template.
type templateField struct {
	path string
	ptr  *string
}

// templateFields lists the templated text fields of r (pointers into r).
func templateFields(r *pushapi.Request) []templateField {
	var out []templateField
	if m := r.Message; m != nil {
		out = append(out, templateField{"message.content", &m.Content})
	}
	if n := r.Notification; n != nil {
		out = append(out, templateField{"notification.title", &n.Title}, templateField{"notification.alert", &n.Alert})
		if n.IOS != nil {
			out = append(out, templateField{"notification.ios.title", &n.IOS.Title}, templateField{"notification.ios.alert", &n.IOS.Alert})
		}
		if n.Android != nil {
			out = append(out, templateField{"notification.android.alert", &n.Android.Alert})
		}
		if n.HarmonyOS != nil {
			out = append(out, templateField{"notification.harmonyOS.alert", &n.HarmonyOS.Alert})
		}
	}
	return out
}

// cloneRequest deep-copies the parts of r that rendering and splitting
// write to.
func cloneRequest(r pushapi.Request) pushapi.Request {
	c := r
	c.Platform = append([]string(nil), r.Platform...)
	c.Audience.UserID = append([]string(nil), r.Audience.UserID...)
	if r.Message != nil {
		m := *r.Message
		c.Message = &m
	}
	if r.Notification != nil {
		n := *r.Notification
		if n.IOS != nil {
			v := *n.IOS
			n.IOS = &v
		}
		if n.Android != nil {
			v := *n.Android
			n.Android = &v
		}
		if n.HarmonyOS != nil {
			v := *n.HarmonyOS
			n.HarmonyOS = &v
		}
		c.Notification = &n
	}
	return c
}

// renderField executes one template; an unknown variable is an error.
func renderField(path, text string, data TemplateData) (string, error) {
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	t, err := template.New(path).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// RenderError lists the template fields that failed, with their paths
// (relative to the push body).
type RenderError struct {
	CampaignID int64
	Problems   []FieldProblem
}

func (e *RenderError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("campaign %d: render: %s", e.CampaignID, strings.Join(parts, "; "))
}

// Render executes the push body's templates for a fire at fireTime (shown to
// templates in the schedule's zone) and returns a body that passes
// pushapi's validation except for the audience size, which Split handles.
func Render(c Campaign, fireTime time.Time) (pushapi.Request, error) {
	loc, err := c.Schedule.Location()
	if err != nil {
		return pushapi.Request{}, fmt.Errorf("campaign %d: render: %w", c.ID, err)
	}
	data := TemplateData{
		FireTime: fireTime.In(loc),
		Vars:     c.Vars,
		Campaign: TemplateCampaign{ID: c.ID, Name: c.Name, App: c.App},
	}
	if data.Vars == nil {
		data.Vars = map[string]any{}
	}
	out := cloneRequest(c.Push)
	rerr := &RenderError{CampaignID: c.ID}
	for _, f := range templateFields(&out) {
		s, err := renderField(f.path, *f.ptr, data)
		if err != nil {
			rerr.Problems = append(rerr.Problems, FieldProblem{Path: f.path, Rule: templateRule(err)})
			continue
		}
		if strings.ContainsRune(s, 0) {
			// A fire-time template output the creation check did not see:
			// this run fails alone (PostgreSQL would refuse the whole batch).
			rerr.Problems = append(rerr.Problems, FieldProblem{Path: f.path, Rule: "template renders a NUL character (U+0000)"})
			continue
		}
		*f.ptr = s
	}
	if len(rerr.Problems) > 0 {
		return pushapi.Request{}, rerr
	}
	return out, nil
}

// templateRule turns a text/template error into a short rule.
func templateRule(err error) string {
	var ee template.ExecError
	if errors.As(err, &ee) {
		return "template: " + strings.TrimPrefix(ee.Err.Error(), "template: ")
	}
	return err.Error()
}

// Split turns a rendered body into the bodies of a Run's sends: one per
// chunk of at most MaxUserIDsPerSend user ids, or the body itself for tag,
// package-name and all-users audiences.
func Split(body pushapi.Request) []pushapi.Request {
	ids := body.Audience.UserID
	if len(ids) == 0 || body.Audience.IsToAll {
		return []pushapi.Request{body}
	}
	var out []pushapi.Request
	for start := 0; start < len(ids); start += MaxUserIDsPerSend {
		end := min(start+MaxUserIDsPerSend, len(ids))
		chunk := cloneRequest(body)
		chunk.Audience.UserID = append([]string(nil), ids[start:end]...)
		out = append(out, chunk)
	}
	return out
}
