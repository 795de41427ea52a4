package pushapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestSecretRedacts(t *testing.T) {
	t.Parallel()
	const raw = "s3cr3t-value"
	s := NewSecret(raw)
	cfg := ClientConfig{AppKey: "k", AppSecret: s}
	js, err := json.Marshal(struct {
		AppKey string
		Secret Secret
	}{"k", s})
	if err != nil {
		t.Fatal(err)
	}
	txt, _ := s.MarshalText()
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s|%v|%q|%x|%X|%d|%#v|%+v", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%+v|%#v|%v", cfg, cfg, &cfg), string(js), string(txt), s.String(), s.GoString(),
	}
	for _, out := range outputs {
		if strings.Contains(out, raw) || strings.Contains(out, fmt.Sprintf("%x", raw)) {
			t.Errorf("secret leaked in %q", out)
		}
	}
	if !strings.Contains(outputs[0], "REDACTED") {
		t.Errorf("fmt.Sprint(secret) = %q, want a redaction marker", outputs[0])
	}
	if s.Reveal() != raw {
		t.Errorf("Reveal = %q", s.Reveal())
	}
	if NewSecret("").String() != "" {
		t.Errorf("an empty secret prints as %q, want empty", NewSecret("").String())
	}
}
