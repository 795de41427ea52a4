package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCPUByCommandCountsOnlyThisBenchmarksServers: the throughput
// benchmark reports cpu_us/run_postgres, cpu_us/run_redis-server and
// cpu_us/task_asynq (BENCHMARKS.md: "CPU per PostgreSQL run: Go /
// PostgreSQL / Redis") from cpuByCommand. A redis-server this benchmark did
// not start (another test binary's, a system one) must not be charged to
// tagcast's and asynq's runs. Here a busy process named redis-server, not
// started by the benchmark's stack (an orphan, parented to init), burns CPU
// between two readings: none of it should be counted. A second one, a
// grandchild of this process (as the PostgreSQL backends are, under the
// postmaster), must be.
func TestCPUByCommandCountsOnlyThisBenchmarksServers(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "redis-server")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nwhile :; do :; done\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Started detached: the shell exits, the loop is re-parented, as
	// another program's redis-server would be outside this process tree.
	out, err := exec.Command("sh", "-c", `"$0" >/dev/null 2>&1 & echo $!`, prog).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	// A descendant: the loop runs under a shell this process waits for.
	parent := exec.Command("sh", "-c", `"$0" & echo $!; wait`, prog)
	parent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 32)
	k, _ := stdout.Read(line)
	ownPid, err := strconv.Atoi(strings.TrimSpace(string(line[:k])))
	if err != nil {
		t.Fatalf("descendant's pid %q: %v", line[:k], err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(ownPid, syscall.SIGKILL)
		_ = parent.Wait()
	})

	before := cpuByCommand()
	orphan0, own0 := cpuOf(t, pid), cpuOf(t, ownPid)
	// Until both loops have burnt enough CPU to tell them apart: on a busy
	// machine (the whole suite in parallel) that takes longer than a second.
	var orphan, own time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) { // polling a condition
		orphan, own = cpuOf(t, pid)-orphan0, cpuOf(t, ownPid)-own0
		if orphan >= 200*time.Millisecond && own >= 200*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two loops burnt %s (orphan) and %s (descendant) in 30 s: too little to tell them apart", orphan, own)
		}
	}
	got := cpuByCommand().since(before)["redis-server"]
	// got spans own's window and a little more, never the orphan's CPU.
	if got < own || got > own+orphan/2 {
		t.Errorf("cpuByCommand charged %s of CPU to redis-server; its descendant redis-server (pid %d) burnt %s, "+
			"the one the benchmark never started (pid %d) %s: only the descendant's should be counted", got, ownPid, own, pid, orphan)
	}
}

// cpuOf reads a process's CPU time (user + system) from /proc/<pid>/stat.
func cpuOf(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
