//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagcast/tagcast/internal/testenv"
)

var (
	sizeFlag = flag.String("e2e.size", "short", "scenario size: short (CI, a few minutes) or full (500 campaigns, a simulated day)")
	seedFlag = flag.Uint64("e2e.seed", 0, "scenario and chaos seed (0: derived from the clock, printed)")
)

// binary is the tagcast binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	// One build per test binary, where the brief of the e2e suite puts it
	// (the repository's tmp/; go build replaces the file, so a copy still
	// running elsewhere is not disturbed).
	abs, err := filepath.Abs(filepath.Join("..", "tmp", "tagcast"))
	if err == nil {
		err = os.MkdirAll(filepath.Dir(abs), 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = abs
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", binary, "./cmd/tagcast")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build -o tmp/tagcast ./cmd/tagcast: %v\n%s", err, out)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", binary, time.Since(start).Round(time.Millisecond))
	testenv.Main(m)
}
