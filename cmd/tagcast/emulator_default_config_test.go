package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The emulator never reads the default tagcast.yaml (it would serve a team
// config's real apps). With one present and no --config, its refusal must
// say so: the global flag's help says "default tagcast.yaml when present".
func TestEmulatorRefusalSaysTheDefaultConfigIsNotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := "apps:\n  - name: main\n    app_key: k1\n    app_secret: s1\n    hosts: [http://127.0.0.1:9]\n"
	if err := os.WriteFile(filepath.Join(dir, "tagcast.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runTagcast(t, cliEnv{dir: dir}, "emulator", "--addr", "127.0.0.1:0")
	if r.code != 2 || !strings.Contains(r.stderr, "reads no tagcast.yaml unless given --config") {
		t.Errorf("emulator with tagcast.yaml present and no --config: %s; want exit 2 saying the default file is not read", r)
	}
}
