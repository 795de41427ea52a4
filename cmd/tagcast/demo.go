package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/tagcast/tagcast/pushapi"
	"github.com/tagcast/tagcast/pushapi/emulator"
)

// demoExampleBody is the request example of the service's push-by-tag page,
// verbatim: its audience has tag, tag_or and userid, so userid wins.
const demoExampleBody = `{
  "platform":["ios","android"],
  "fromuserid": "fromuseId1",
  "audience":{
    "tag":["女","年轻"],
    "tag_or":["北京","上海"],
    "userid":["123","456"],
    "is_to_all":false
  },
  "message": {
    "content": "{\"content\":\"1111\",\"extra\":\"aa\"}",
    "objectName": "RC:TxtMsg"
  },
  "notification":{
    "title":"标题",
    "forceShowPushContent":0,
    "alert":"this is a push",
    "ios":
    {
      "alert": "override alert",
      "thread-id":"223",
      "apns-collapse-id":"111",
      "extras": {"id": "1","name": "2"}
    },
    "android": {
      "alert": "override alert",
      "hw":{
        "channelId":"NotificationKanong",
        "importance": "NORMAL",
        "image":"https://example.com/image.png"
      },
      "mi":{
        "channelId":"rongcloud_kanong",
        "large_icon_uri":"https://example.com/image.png"
      },
      "oppo":{
        "channelId":"rc_notification_id",
        "category": "IM",
        "notify_level": 2
      },
      "vivo":{
        "classification":"0"
      },
      "extras": {"id": "1","name": "2"}
    },
    "harmonyOS": {
      "ohos":{
        "category":"IM",
        "image":"https://example.com/image.png"
      },
      "extras": {"id": "1","name": "2"}
    }
  }
}`

// demoAppKey is the demo's App Key on its private emulator.
const demoAppKey = "demo-app-key"

// demoUsers are registered through the tag APIs before the pushes.
var demoUsers = []struct {
	ids  []string
	tags []string
}{
	{[]string{"lily", "mei"}, []string{"女", "年轻", "北京"}}, // batch set
	{[]string{"fang"}, []string{"女", "年轻", "上海"}},
	{[]string{"hua"}, []string{"女", "年轻", "广州"}},
	{[]string{"wang"}, []string{"男", "年轻", "北京"}},
	{[]string{"123"}, []string{"男", "上海"}},
	{[]string{"456"}, []string{"女"}},
}

// demoPushReport is one push of the demo.
type demoPushReport struct {
	Name          string                           `json:"name"`
	ID            string                           `json:"id"`
	MessageUID    string                           `json:"messageUID"`
	Recipients    []string                         `json:"recipients"`
	Notifications map[string]emulator.Notification `json:"notifications"`
}

// demoReport is `tagcast demo --output json`.
type demoReport struct {
	Emulator string              `json:"emulator"`
	AppKey   string              `json:"app_key"`
	Tags     map[string][]string `json:"tags"`
	Pushes   []demoPushReport    `json:"pushes"`
	Quota    emulator.QuotaState `json:"quota"`
}

func newDemoCmd(g *globals) *cobra.Command {
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "show tagcast end to end against a private local emulator of the push service",
		Long: `Start the push service emulator on a free loopback port, register demo users with
tags through the user tag APIs, send the example of the service's push-by-tag page
through the push API client, and print each push's id, messageUID and resolved
recipients. Nothing leaves this machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if duration < 0 {
				return usageError("--duration: must not be negative, got %s", duration)
			}
			ctx := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			if err := runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), g.output == "json"); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("demo: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", time.Minute, "stop with an error if the demo has not finished after this long (0: no limit)")
	return cmd
}

// runDemo runs the demo; progress goes to out (or only a JSON report at the
// end with asJSON).
func runDemo(ctx context.Context, out, errOut io.Writer, asJSON bool) error {
	say := func(format string, a ...any) {
		if !asJSON {
			fmt.Fprintf(out, format+"\n", a...)
		}
	}
	secret, err := demoSecret()
	if err != nil {
		return err
	}
	cfg := emulator.Config{Seed: 1, Apps: []emulator.AppConfig{{AppKey: demoAppKey, Secret: secret}}}
	log := zerolog.New(zerolog.ConsoleWriter{Out: errOut, NoColor: true}).Level(zerolog.WarnLevel)
	emu, err := startEmulator("127.0.0.1:0", cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := emu.stop(emulatorShutdownTimeout); err != nil {
			fmt.Fprintln(errOut, "demo: stopping the emulator:", err)
		}
	}()
	qs, err := emu.em.QuotaState(demoAppKey)
	if err != nil {
		return err
	}
	say("==> Push service emulator at %s (inspection: %s%s)", emu.url, emu.url, emulator.ControlPrefix)
	say("    App Key %s: quota %d/hour (%s), %d/day (%s, %s)", demoAppKey, qs.Hourly, qs.HourWindow, qs.Daily, qs.DayWindow, qs.Timezone)

	client, err := pushapi.NewClient(pushapi.ClientConfig{
		AppKey: demoAppKey, AppSecret: pushapi.Secret(secret), Hosts: []string{emu.url}, Timeout: 10 * time.Second,
	})
	if err != nil {
		return err
	}

	say("==> Registering demo users through the tag APIs")
	var ids []string
	for _, u := range demoUsers {
		if len(u.ids) > 1 {
			err = client.BatchSetUserTags(ctx, u.ids, u.tags)
			say("    batch set %-10s tags %s", strings.Join(u.ids, ","), strings.Join(u.tags, ","))
		} else {
			err = client.SetUserTags(ctx, u.ids[0], u.tags)
			say("    set       %-10s tags %s", u.ids[0], strings.Join(u.tags, ","))
		}
		if err != nil {
			return fmt.Errorf("registering %s: %w", strings.Join(u.ids, ","), err)
		}
		ids = append(ids, u.ids...)
	}
	tags, err := client.GetUserTags(ctx, ids)
	if err != nil {
		return fmt.Errorf("reading the tags back: %w", err)
	}
	say("    read back the tags of %d users", len(tags))

	example, err := pushapi.DecodeRequest([]byte(demoExampleBody))
	if err != nil {
		return fmt.Errorf("the push-by-tag example: %w", err)
	}
	byTag, err := pushapi.DecodeRequest([]byte(demoExampleBody))
	if err != nil {
		return fmt.Errorf("the push-by-tag example: %w", err)
	}
	byTag.Audience.UserID = nil

	report := demoReport{Emulator: emu.url, AppKey: demoAppKey, Tags: tags}
	for _, p := range []struct {
		name, explain string
		req           *pushapi.Request
	}{
		{"push-by-tag example", "the page's example verbatim: audience.userid is set, so it wins over the tags", example},
		{"push-by-tag example without userid", "tag [女 AND 年轻] AND tag_or [北京 OR 上海]", byTag},
	} {
		say("==> Sending %s through the client (%s)", p.name, p.explain)
		res, err := client.Push(ctx, p.req)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		rep := demoPushReport{Name: p.name, ID: res.ID, MessageUID: res.MessageUID}
		for _, rec := range emu.em.PushesFor(demoAppKey) {
			if rec.MessageUID == res.MessageUID {
				rep.Recipients, rep.Notifications = rec.Recipients, rec.Notifications
			}
		}
		if rep.Recipients == nil {
			return fmt.Errorf("%s: the emulator has no record of messageUID %s", p.name, res.MessageUID)
		}
		report.Pushes = append(report.Pushes, rep)
		say("    push id     %s", rep.ID)
		say("    messageUID  %s", rep.MessageUID)
		say("    recipients  %s", strings.Join(rep.Recipients, ", "))
		for _, platform := range []string{pushapi.PlatformIOS, pushapi.PlatformAndroid} {
			if n, ok := rep.Notifications[platform]; ok {
				say("    %-11s %q / %q", platform, n.Title, n.Alert)
			}
		}
	}

	if report.Quota, err = emu.em.QuotaState(demoAppKey); err != nil {
		return err
	}
	q := report.Quota
	say("==> Quota of %s: %d of %d used this hour, %d of %d today; next opening %s",
		demoAppKey, q.UsedHour, q.Hourly, q.UsedDay, q.Daily, q.NextOpening.In(time.Local).Format(time.DateTime))
	say("==> Done. `tagcast emulator` runs the same emulator on its own.")
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	return nil
}

// demoSecret is a fresh random App Secret for the demo's private emulator.
func demoSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
