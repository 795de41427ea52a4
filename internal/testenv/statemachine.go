package testenv

import (
	"bufio"
	"os"
	"regexp"
	"strings"
)

// DocEdge is one edge of a state diagram in docs/state-machine.md: Entity is
// the section it is drawn under ("campaign", "run", "send"); From is "[*]"
// where a row is created, To "[*]" where one is deleted.
type DocEdge struct{ Entity, From, To string }

var docEdge = regexp.MustCompile(`^\s*(\[\*\]|[a-z_]+)\s*-->\s*(\[\*\]|[a-z_]+)\s*(:.*)?$`)

// StateMachineEdges reads the edges of every mermaid block of the file at
// path, each under a "## Campaign|Run|Send" heading, in the order drawn.
func StateMachineEdges(path string) ([]DocEdge, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []DocEdge
	entity, inBlock := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			entity = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(line, "## ")))
		case strings.HasPrefix(line, "```mermaid"):
			inBlock = true
		case strings.HasPrefix(line, "```"):
			inBlock = false
		case inBlock:
			if m := docEdge.FindStringSubmatch(line); m != nil {
				out = append(out, DocEdge{Entity: entity, From: m[1], To: m[2]})
			}
		}
	}
	return out, sc.Err()
}
