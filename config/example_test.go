package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tagcast/tagcast/config"
)

// Load reads the file, then TAGCAST_* overrides; secrets resolve from the
// variable the file names and print redacted.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "tagcast-example")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	file := filepath.Join(dir, "tagcast.yaml")
	yamlText := `apps:
  - name: main
    app_key: uwd1c0sxdlx2
    app_secret_env: MAIN_SECRET
    data_center: beijing
`
	if err := os.WriteFile(file, []byte(yamlText), 0o600); err != nil {
		panic(err)
	}
	env := map[string]string{
		"MAIN_SECRET":                "s3cr3t",
		"TAGCAST_APPS_0_QUOTA_DAILY": "10",
		"TAGCAST_DATABASE_URL":       "postgres://tagcast:pw@db:5432/tagcast",
	}
	cfg, err := config.Load(file, config.WithLookupEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	if err != nil {
		panic(err)
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	app, _ := cfg.App("main")
	fmt.Println(app.Quota.Hourly, app.Quota.Daily, app.Quota.HourWindow, app.Quota.Timezone)
	fmt.Println(app.Secret, cfg.Source("apps[0].quota.daily"))
	fmt.Println(cfg.Database)
	// Output:
	// 2 10 rolling Asia/Shanghai
	// [redacted] env TAGCAST_APPS_0_QUOTA_DAILY
	// {URL:postgres://tagcast:[redacted]@db:5432/tagcast}
}

// Validate reports every problem, each with its field path.
func ExampleConfig_Validate() {
	cfg := config.Default()
	app := config.DefaultApp()
	app.Name, app.AppKey, app.Secret = "main", "key", config.NewSecret("s")
	app.Hosts = []string{"http://127.0.0.1:9090"}
	app.Quota.HourWindow = "hourly"
	cfg.Apps = []config.App{app}
	cfg.Log.Format = "text"
	err := cfg.Validate()
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// apps[0].quota.hour_window: must be rolling or clock, got "hourly"
	// log.format: must be json or console, got "text"
}
