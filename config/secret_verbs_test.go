package config

import (
	"fmt"
	"testing"
)

// TestSecretRedactedUnderBadVerbs guards Secret's storage (secret.go): the
// value is behind a pointer, not in a string field.
//
// secret.go: "It redacts itself in every textual form (fmt verbs including
// %#v, ...)". fmt handles %p before any Formatter, and prints a verb the
// operand cannot take (%p on a struct, %w on anything but an error) as
// "%!verb(type=value)" with the operand's methods disabled: Format is never
// called and the fields are printed by reflection. With the value in a
// string field, fmt.Errorf("app %s: %w", name, app) printed the App Secret
// (or an admin token) as "%!w(config.App={... {S3CRET-app} ...})". The
// formats are held in a variable, as in a logger's or an error helper's
// format parameter, where go vet cannot see them.
func TestSecretRedactedUnderBadVerbs(t *testing.T) {
	t.Parallel()
	s := NewSecret("S3CRET-app")
	app := App{Name: "main", AppKey: "k", Secret: s}
	admin := Admin{Tokens: []Secret{NewSecret("TOKEN-one")}, Token: NewSecret("TOKEN-cli")}
	for _, format := range []string{"%p", "%w", "app main: %w"} {
		for name, arg := range map[string]any{"Secret": s, "App": app, "Admin": admin} {
			assertNoSecret(t, fmt.Sprintf("fmt.Sprintf(%q, %s)", format, name), fmt.Sprintf(format, arg))
			assertNoSecret(t, fmt.Sprintf("fmt.Errorf(%q, %s)", format, name), fmt.Errorf(format, arg).Error())
		}
	}
}
