package pushapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	if _, err := DecodeRequest(loadExample(t)); err != nil {
		t.Fatalf("the documented example must decode: %v", err)
	}
	tests := []struct {
		name string
		in   string
		want []pc
	}{
		{"unknown field", `{"audience":{"is_to_al":true}}`, []pc{{"", 1002}}},
		{"wrong type", `{"audience":{"userid":"u1"}}`, []pc{{"audience.userid", 1002}}},
		{"wrong nested type", `{"notification":{"ios":{"badge":"1"}}}`, []pc{{"notification.ios.badge", 1002}}},
		{"syntax", `{"platform":[}`, []pc{{"", 1002}}},
		{"empty", ``, []pc{{"", 1003}}},
		{"trailing data", `{} {}`, []pc{{"", 1002}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeRequest([]byte(tt.in))
			if diff := cmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
