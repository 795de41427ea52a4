package campaign

import "testing"

// A file with a second YAML document is refused, but a separator that ends
// the file (or one followed only by a comment) opens no second campaign:
// the file is the one campaign it holds.
func TestTrailingYAMLSeparatorIsNotASecondCampaign(t *testing.T) {
	t.Parallel()
	if _, err := ParseFile([]byte(designYAML), testOpts); err != nil {
		t.Fatalf("the design example: %v", err)
	}
	for name, file := range map[string]string{
		"trailing ---":            designYAML + "---\n",
		"trailing --- and a note": designYAML + "---\n# end of campaign\n",
	} {
		if _, err := ParseFile([]byte(file), testOpts); err != nil {
			t.Errorf("%s: %v; want the one campaign the file holds", name, err)
		}
	}
}
