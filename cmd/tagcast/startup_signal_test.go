package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// A signal during startup is the graceful stop the help promises (exit 0),
// not a failure: here it comes while the worker waits for a Redis that
// accepts connections but never answers.
func TestASignalDuringStartupExitsZero(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() { // accept and hold every connection, never answering
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer func() { _ = c.Close() }()
		}
	}()
	dir := t.TempDir()
	cfg := writeFile(t, "tagcast.yaml", `apps:
  - {name: main, app_key: key-main, app_secret_env: MAIN_SECRET, hosts: ["http://127.0.0.1:9"]}
redis: {url: "redis://`+ln.Addr().String()+`"}
database: {url: "sqlite://`+dir+`/tagcast.db"}
`)
	var stdout, stderr bytes.Buffer
	env := environment{
		stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		lookupEnv: func(name string) (string, bool) {
			if name == "MAIN_SECRET" {
				return secretValue, true
			}
			return "", false
		},
		environ:       func() []string { return nil },
		defaultConfig: dir + "/none.yaml",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runIn(ctx, []string{"--config", cfg, "worker"}, env) }()
	time.Sleep(500 * time.Millisecond) // the worker is waiting for Redis's answer
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("a signal during startup: exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop within 30 s of the signal")
	}
}
