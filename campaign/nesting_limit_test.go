package campaign

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tagcast/tagcast/pushapi"
)

// vars and each extras object nest at most MaxNestingDepth levels of
// mappings and lists, their own included; the first level beyond is
// reported at its path.
func TestParseFileNestingDepthLimit(t *testing.T) {
	t.Parallel()
	rule := "nested more than 64 levels deep (vars and extras allow at most 64 levels of mappings and lists)"
	// nestedFile's {"x": [[...]]}: the mapping is level 1, the outermost
	// list level 2, the list at level n is at .x and n-2 indexes.
	deepest := func(base string, level int) string {
		return base + ".x" + strings.Repeat("[0]", level-2)
	}
	for _, tc := range []struct {
		where, base string
	}{
		{"vars", "vars"},
		{"extras", "push.notification.ios.extras"},
		{"yaml vars", "vars"},
	} {
		if _, err := ParseFile(nestedFile(tc.where, MaxNestingDepth-1), testOpts); err != nil {
			t.Errorf("%s nested %d levels: %v, want it accepted", tc.where, MaxNestingDepth, err)
		}
		_, err := ParseFile(nestedFile(tc.where, MaxNestingDepth), testOpts)
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("%s nested %d levels: %v, want a *ValidationError", tc.where, MaxNestingDepth+1, err)
		}
		want := []FieldProblem{{Path: deepest(tc.base, MaxNestingDepth+1), Rule: rule}}
		if diff := cmp.Diff(want, verr.Problems); diff != "" {
			t.Errorf("%s nested %d levels: problems (-want +got):\n%s", tc.where, MaxNestingDepth+1, diff)
		}
	}

	// A deep mapping is reported at its keys' path, the first in key order.
	deep := strings.Repeat(`{"k": `, MaxNestingDepth) + "1" + strings.Repeat("}", MaxNestingDepth)
	_, err := ParseFile(fmtFile(`{"b": `+deep+`, "a": [`+deep+`]}`, `{}`), testOpts)
	want := "invalid campaign (1 problem): vars.a[0]" + strings.Repeat(".k", MaxNestingDepth-2) + ": " + rule
	if err == nil || err.Error() != want {
		t.Errorf("vars with two mappings too deep:\n got %v\nwant %s", err, want)
	}
}

// Every extras object of a push body is held to the nesting limit: a field
// of type pushapi.Extras added to the request must be added to
// pushExtras too.
func TestPushExtrasListsEveryExtras(t *testing.T) {
	t.Parallel()
	var walk func(reflect.Type, string) []string
	walk = func(typ reflect.Type, path string) []string {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ == reflect.TypeFor[pushapi.Extras]() {
			return []string{path}
		}
		if typ.Kind() != reflect.Struct {
			return nil
		}
		var out []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			out = append(out, walk(typ.Field(i).Type, path+"."+name)...)
		}
		return out
	}
	want := walk(reflect.TypeFor[pushapi.Request](), "push")
	full := pushapi.Request{Notification: &pushapi.Notification{
		IOS: &pushapi.IOSNotification{}, Android: &pushapi.AndroidNotification{}, HarmonyOS: &pushapi.HarmonyOSNotification{},
	}}
	var got []string
	for _, e := range pushExtras(&full) {
		got = append(got, e.path)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pushExtras paths (-every Extras field of pushapi.Request +listed):\n%s", diff)
	}
}
