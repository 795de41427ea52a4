package campaign

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Was: a user-id audience over 1000 ids is validated chunk by chunk
// (Split), and each chunk's problems were reported with the chunk's own
// index: the empty id at audience.userid[1200] of the file was reported as
// push.audience.userid[200], an entry that is fine (and two problems at
// the same place of two chunks were reported once).
func TestUserIDProblemNamesItsPlaceInTheFile(t *testing.T) {
	t.Parallel()
	ids := make([]string, 1500)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%04d", i)
	}
	ids[1200] = " "
	quoted, _ := json.Marshal(ids)
	src := `{"name":"n","app":"main","schedule":{"now":true},"push":{"platform":["ios"],"fromuserid":"system",` +
		`"audience":{"userid":` + string(quoted) + `,"is_to_all":false},` +
		`"message":{"objectName":"RC:TxtMsg","content":"{\"content\":\"x\"}"},"notification":{"alert":"hi"}}}`
	_, err := ParseFile([]byte(src), testOpts)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("ParseFile = %v; want a *ValidationError for the empty user id", err)
	}
	var paths []string
	for _, p := range verr.Problems {
		paths = append(paths, p.Path)
	}
	if len(paths) != 1 || paths[0] != "push.audience.userid[1200]" {
		t.Errorf("problem paths = %q; want [push.audience.userid[1200]] (the blank id is entry 1200 of the file; entry 200 is %q)", paths, ids[200])
	}
}

// A YAML campaign's numbers go out as written, as a JSON file's do
// (json.Number; pushapi.Extras promises it "whether the request comes from
// a file, the admin API or the store"): an order id beyond 64 bits, 2.50,
// 1e3. A number not written as JSON writes one (0123, which YAML reads as
// octal 83; 0x1F, +5, .5, 1_000, .inf) is refused, naming its field. Was:
// yaml.v3's reading went out (2.50 as 2.5, 0123 as 83: a ZIP code, an
// order code; found by a review), and before that a 24-digit id as
// 1.2345678901234569e+23 (then refused).
func TestYAMLNumbersAreSentAsWritten(t *testing.T) {
	t.Parallel()
	src := string(yamlCampaign("    alert: hi\n    ios: {extras: {order: ORDER}}\n"))
	for _, written := range []string{
		"123456789012345678901234", "0.1", "2.50", "1e3", "-42", "0", "-0", "19.90",
		"9223372036854775807", "18446744073709551615", "0.123456789012345678901", "-99999999999999999999",
	} {
		c, err := ParseFile([]byte(strings.Replace(src, "ORDER", written, 1)), testOpts)
		if err != nil {
			t.Errorf("%s: %v; want accepted", written, err)
			continue
		}
		sends, err := RenderSends(c, *c.NextRunAt)
		if err != nil {
			t.Fatalf("%s: RenderSends: %v", written, err)
		}
		if body := string(sends[0].Body); !strings.Contains(body, `"order":`+written+`}`) {
			t.Errorf("%s: the body sent is %s; want \"order\":%s", written, body, written)
		}
	}
	for _, written := range []string{"0123", "02134", "0x1F", "0o17", "+5", ".5", "1_000", ".inf", "-.inf", ".nan", "1."} {
		_, err := ParseFile([]byte(strings.Replace(src, "ORDER", written, 1)), testOpts)
		var verr *ValidationError
		if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Path != "push.notification.ios.extras.order" {
			t.Errorf("%s: ParseFile = %v; want push.notification.ios.extras.order refused (YAML reads it as another number)", written, err)
		}
	}
}

// Was: rendering capped a template's output (cappedBuffer) but not its
// work. A range over an integer that writes nothing ran to the end:
// 10,000,000 empty iterations take about 0.6 s here, so
// '{{range 1000000000000}}{{end}}' kept ParseFile (the admin API's create
// handler, the CLI) busy for some 16 hours, a core pinned, and a template
// calling itself twice for good. Loop iterations and template calls are
// now bounded (MaxTemplateSteps).
func TestTemplateWorkIsBounded(t *testing.T) {
	t.Parallel()
	_, err := ParseFile(yamlCampaign("    alert: 'hi{{range 10000000}}{{end}}'\n"), testOpts)
	if err == nil || !strings.Contains(err.Error(), "notification.alert") {
		t.Errorf("ParseFile = %v; want notification.alert refused: a template's loops must be bounded like its output", err)
	}
	for _, tt := range []struct {
		tpl     string
		refused bool
	}{
		{`{{define "a"}}{{template "a" .}}{{template "a" .}}{{end}}{{template "a" .}}`, true}, // 2^depth calls
		{`{{range 400}}{{range 250}}{{end}}{{end}}`, true},                                    // 100,400 steps
		{`{{range 400}}{{range 300}}{{if false}}{{end}}{{end}}{{end}}`, true},
		{`{{range 400}}{{range 300}}{{else}}{{end}}{{end}}`, true},
		{`{{range 99}}{{range 1000}}{{end}}{{end}}`, false}, // 99,100 steps
		{`{{range 99999}}{{end}}`, false},                   // 100,000 steps, its own execution included
		{`{{range 100000}}{{end}}`, true},
		{`{{define "b"}}x{{end}}{{range 3}}{{template "b"}}{{end}}`, false},
	} {
		out, err := renderField("notification.alert", tt.tpl, TemplateData{})
		if refused := err != nil; refused != tt.refused {
			t.Errorf("%s: rendered %d bytes, err %v; want refused %v", tt.tpl, len(out), err, tt.refused)
		} else if refused && !strings.Contains(templateRule(err), "takes more than 100000 steps") {
			t.Errorf("%s: rule %q; want the bound named", tt.tpl, templateRule(err))
		}
	}
}

// Was: a YAML key read as a number, a boolean or null became JSON text by
// fmt.Sprint: 1.10 and 1.1 were both "1.1" (one value dropped in silence),
// 0x10 became "16", ~ became "<nil>", and 1 and "1" one key. Such keys are
// now refused, naming the field; keys whose text stays as written pass.
func TestYAMLKeysAreSentAsWritten(t *testing.T) {
	t.Parallel()
	src := func(extras string) []byte { return yamlCampaign("    alert: hi\n    ios: {extras: " + extras + "}\n") }
	for _, extras := range []string{`{1.10: a, 1.1: b}`, `{0x10: a}`, `{~: a}`, `{1: a, "1": b}`, `{1e3: a}`} {
		_, err := ParseFile(src(extras), testOpts)
		if err == nil || !strings.Contains(err.Error(), "key") {
			t.Errorf("extras %s: %v; want the key refused", extras, err)
		}
	}
	for extras, want := range map[string]string{`{1: a}`: `"1":"a"`, `{true: a}`: `"true":"a"`, `{"1.10": a}`: `"1.10":"a"`, `{-5: a}`: `"-5":"a"`} {
		c, err := ParseFile(src(extras), testOpts)
		if err != nil {
			t.Errorf("extras %s: %v; want accepted (the key's text is as written)", extras, err)
			continue
		}
		sends, err := RenderSends(c, *c.NextRunAt)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(sends[0].Body), want) {
			t.Errorf("extras %s: body %s; want %s", extras, sends[0].Body, want)
		}
	}
}

// yamlCampaign is a valid YAML campaign file pushing to tag vip, its
// notification's block as given (indented under "notification:").
func yamlCampaign(notification string) []byte {
	return []byte(`
name: n
app: main
schedule: {now: true}
push:
  platform: [ios]
  fromuserid: system
  audience: {tag: [vip], is_to_all: false}
  message: {objectName: "RC:TxtMsg", content: '{"content":"x"}'}
  notification:
` + notification)
}
