package main

import (
	"strings"
	"testing"
)

// `tags batch-set --tags ""` is the documented way to clear the listed
// users' tags. A blank or empty item is not: `tags set u1 " "`, a --file
// with tags [" "] and the admin API all refuse it ("tags[0]: must not be
// empty"), and so does the flag form now. Was: it dropped blank items and,
// when nothing was left, sent [], wiping the tags of every listed user (up
// to 1000) on --tags "$TAG" with TAG=" ", or a stray --tags "," (found by
// a review).
func TestTagsBatchSetBlankTagItemsDoNotClear(t *testing.T) {
	t.Parallel()
	for _, tags := range []string{" ", ",", " , "} {
		t.Run(tags, func(t *testing.T) {
			t.Parallel()
			svc := tagService(t)
			cfgFile, vars := svc.configFor(t)
			r := runTagcast(t, cliEnv{vars: vars}, "--config", cfgFile, "tags", "batch-set", "--app", "main",
				"--users", "u1,u2", "--tags", tags)
			if n := len(svc.recorded()); n != 0 {
				t.Errorf("--tags %q: the service received %s; want nothing sent (a blank tag is not the documented --tags \"\" clear)\n%s",
					tags, svc.recorded()[0].body, r)
			}
			if r.code != 1 || !strings.Contains(r.stderr, "tags") {
				t.Errorf("--tags %q: want exit 1 naming tags (a blank tag is refused by `tags set`, --file and the admin API):\n%s", tags, r)
			}
		})
	}
}
