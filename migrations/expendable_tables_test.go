package migrations

import (
	"maps"
	"slices"
	"testing"
)

// expendableTables reads a whole table's marker in the Down section only;
// a column's marker (table.column) spares no table.
func TestExpendableTables(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, text string
		want       []string
	}{
		{"table", "-- +goose Down\n-- tagcast:expendable app_keys (rebuilt at start)\nDROP TABLE app_keys;\n", []string{"app_keys"}},
		{"table, no reason", "-- +goose Down\n-- tagcast:expendable app_keys\nDROP TABLE app_keys;\n", []string{"app_keys"}},
		{"a column spares no table", "-- +goose Down\n-- tagcast:expendable sends.claimed_by (a diagnostic)\nDROP TABLE sends;\n", nil},
		{"in the Up section only", "-- +goose Up\n-- tagcast:expendable app_keys (x)\n-- +goose Down\nDROP TABLE app_keys;\n", nil},
	} {
		got := slices.Sorted(maps.Keys(expendableTables(tt.text)))
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
