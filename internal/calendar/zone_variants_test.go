package calendar

import (
	"strings"
	"testing"
)

// The right/ and posix/ zone trees exist only in some hosts' zoneinfo (not
// in Go's embedded copy), and right/ zones count leap seconds, which Go
// ignores (every clock change about 27 s late): LoadZone refuses them,
// naming the zone to use. Was: accepted wherever the host had them, so a
// configuration `config check` passed on one host failed on another.
func TestLoadZoneRefusesHostVariants(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"right/Asia/Shanghai", "posix/America/Santiago", "./right/UTC"} {
		_, err := LoadZone(name)
		if err == nil || !strings.Contains(err.Error(), "name the IANA zone itself") {
			t.Errorf("LoadZone(%q) = %v, want a refusal naming the IANA zone", name, err)
		}
	}
	if _, err := LoadZone("America/Santiago"); err != nil {
		t.Errorf("LoadZone(America/Santiago): %v", err)
	}
}
