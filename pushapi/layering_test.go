package pushapi

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DESIGN.md: "Never: pushapi importing anything of tagcast" (it is the
// client a service of any shape can import). Was: it imported two internal
// packages of tagcast (a lone-surrogate check and the problems message),
// found by a review; they live here now.
func TestImportsNothingOfTagcast(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if path == "github.com/tagcast/tagcast" || strings.HasPrefix(path, "github.com/tagcast/tagcast/") {
				t.Errorf("%s imports %s: pushapi imports nothing of tagcast (DESIGN.md)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source file of pushapi found")
	}
}
