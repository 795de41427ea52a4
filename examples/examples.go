// Package examples holds tagcast's example campaign files, embedded so the
// demo and tests can use them as they are shipped:
//
//   - marketing-broadcast.yaml: a one-shot broadcast at a set time (`at`);
//   - recurring-announcement.yaml: a weekly announcement from a template
//     (cron, time zone, vars, start and end);
//   - user-id-campaign.yaml: 2,500 user ids, split into sends of 1,000.
//
// Every file names the app "main". Beside them, push-body.json is a bare
// /push.json body for `tagcast push validate` and `push send` (not embedded;
// examples_test.go checks it).
package examples

import (
	"embed"
	"io/fs"
)

//go:embed *.yaml
var files embed.FS

// Files are the example campaign files (names such as "marketing-broadcast.yaml").
func Files() fs.FS { return files }

// Names lists the example files in name order.
func Names() []string {
	entries, _ := fs.ReadDir(files, ".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
