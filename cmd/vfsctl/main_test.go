package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/ctl/ctltest"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vfs-project/vfs/store"
)

// vfsctl runs the command line in-process against storeDir.
func vfsctl(t *testing.T, storeDir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), append([]string{"--store", storeDir}, args...), &o, &e)
	return o.String(), e.String(), code
}

func site(t *testing.T, index string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644)
	os.WriteFile(filepath.Join(dir, "assets", "app-3f2a1b9c.js"), []byte("run()"), 0o644)
	return dir
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestImportActivateRollback(t *testing.T) {
	sd := t.TempDir()
	out, _, code := vfsctl(t, sd, "snapshot", "import", site(t, "v1"), "--label", "v1")
	id1 := lastLine(out)
	if code != 0 || len(id1) != 64 {
		t.Fatalf("import: code %d, last line %q", code, id1)
	}
	out, _, _ = vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v2"))
	id2 := lastLine(out)
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("import printed more than the id on stdout: %q", out)
	}
	if _, _, code := vfsctl(t, sd, "activate", "v1", "--reason", "first"); code != 0 {
		t.Fatal("activate by label failed")
	}
	if _, _, code := vfsctl(t, sd, "activate", id2[:8]); code != 0 {
		t.Fatal("activate by prefix failed")
	}
	if _, _, code := vfsctl(t, sd, "rollback"); code != 0 {
		t.Fatal("rollback failed")
	}
	out, _, _ = vfsctl(t, sd, "--json", "log")
	var log []store.LogEntry
	if err := json.Unmarshal([]byte(out), &log); err != nil || len(log) != 3 {
		t.Fatalf("log --json: %v, %d entries", err, len(log))
	}
	if log[2].To.String() != id1 || log[0].Reason != "first" {
		t.Fatalf("rollback did not return to v1: %+v", log[2])
	}
	out, _, _ = vfsctl(t, sd, "snapshot", "diff", id1, id2)
	if strings.TrimSpace(out) != "M /index.html (2 B -> 2 B)" {
		t.Fatalf("diff: %q", out)
	}
	out, _, _ = vfsctl(t, sd, "snapshot", "list")
	if !strings.Contains(out, id1[:12]) || !strings.Contains(out, "current") {
		t.Fatalf("list: %q", out)
	}
	if _, _, code := vfsctl(t, sd, "verify"); code != 0 {
		t.Fatalf("verify of a clean store exited %d", code)
	}
	tarPath := filepath.Join(t.TempDir(), "v1.tar")
	if _, _, code := vfsctl(t, sd, "snapshot", "export", "v1", tarPath); code != 0 {
		t.Fatal("export failed")
	}
	out, _, _ = vfsctl(t, sd, "snapshot", "import", tarPath)
	if lastLine(out) != id1 {
		t.Fatal("re-importing the export gave another id")
	}
}

func TestExitCodes(t *testing.T) {
	sd := t.TempDir()
	vfsctl(t, sd, "snapshot", "import", site(t, "v1"), "--label", "v1", "--activate")
	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"bogus"}, exitUsage, "unknown command"},
		{[]string{"activate"}, exitUsage, "wrong number of arguments"},
		{[]string{"activate", "v1", "--nope"}, exitUsage, "unknown flag"},
		{[]string{"activate", "nolabel"}, ctl.ExitNotFound, "not found"},
		{[]string{"snapshot", "show", "v1", "missing.html"}, ctl.ExitNotFound, "not found"},
		{[]string{"snapshot", "rm", "v1"}, exitError, "ref \"current\" points at it"},
		{[]string{"log", "--since", "the day before"}, exitUsage, "--since"},
		{[]string{"activate", "@not-a-time"}, exitUsage, "not-a-time"},
		{[]string{"snapshot", "prune", "--keep-within", "7x"}, exitUsage, "7x"},
		{[]string{"activate", "--help"}, exitOK, "activation log"},
	}
	for _, c := range cases {
		stdout, stderr, code := vfsctl(t, sd, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d saying %q", c.args, code, stderr, c.code, c.says)
		}
	}
}

func TestBusyStoreIsExplained(t *testing.T) {
	sd := t.TempDir()
	st, err := store.Open(sd, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, stderr, code := vfsctl(t, sd, "status")
	if code != ctl.ExitBusy || !strings.Contains(stderr, "store "+sd+" is in use by another process (is vfsd running? use --socket)") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}

// A mistyped --store is an error, not a new empty store; only import and
// restore create a store.
func TestNoStoreIsCreatedUnasked(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "vfs-stor")
	for _, args := range [][]string{{"status"}, {"snapshot", "list"}, {"log"}, {"gc"}} {
		_, stderr, code := vfsctl(t, typo, args...)
		if code != ctl.ExitNotFound || !strings.Contains(stderr, "no store at "+typo) {
			t.Errorf("%v on a missing store: exit %d, %q", args, code, stderr)
		}
		if _, err := os.Stat(typo); err == nil {
			t.Fatalf("%v created %s", args, typo)
		}
	}
	if _, _, code := vfsctl(t, typo, "-q", "snapshot", "import", site(t, "v1")); code != 0 {
		t.Fatalf("import into a new store: exit %d", code)
	}
	if _, _, code := vfsctl(t, typo, "status"); code != 0 {
		t.Fatalf("status of the store import made: exit %d", code)
	}
}

// An explicit --store beats VFS_SOCKET in the environment.
func TestStoreFlagBeatsSocketEnvironment(t *testing.T) {
	sd := t.TempDir()
	if _, _, code := vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1")); code != 0 {
		t.Fatal("import failed")
	}
	t.Setenv("VFS_SOCKET", filepath.Join(t.TempDir(), "no-such.sock"))
	out, stderr, code := vfsctl(t, sd, "status")
	if code != 0 || !strings.Contains(out, sd) {
		t.Fatalf("status with --store and VFS_SOCKET set: exit %d, %q %q", code, out, stderr)
	}
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"--store", sd, "--socket", "/x", "status"}, &o, &e); code != exitUsage {
		t.Fatalf("--store with --socket: exit %d %q", code, e.String())
	}
}

// Durations take days and weeks, and times take dates and relative forms,
// everywhere.
func TestDurationsAndTimes(t *testing.T) {
	sd := t.TempDir()
	vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1"), "--label", "v1", "--activate")
	for _, args := range [][]string{
		{"snapshot", "prune", "--dry-run", "--keep-within", "7d"},
		{"snapshot", "prune", "--dry-run", "--keep-within", "2w"},
		{"log", "--since", "yesterday"},
		{"log", "--since", "2 days ago"},
		{"log", "--since", "1h ago"},
		{"log", "--since", "2026-11-01"},
		{"log", "--since", "2026-11-01T10:00:00Z"},
		{"snapshot", "show", "@now"},
	} {
		if _, stderr, code := vfsctl(t, sd, args...); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	_, stderr, _ := vfsctl(t, sd, "snapshot", "prune", "--help")
	if strings.Contains(stderr, "-1ns") || strings.Contains(stderr, "-1)") {
		t.Errorf("prune --help shows a sentinel default: %s", stderr)
	}
	out, _, _ := vfsctl(t, sd, "--json", "snapshot", "prune", "--dry-run", "--keep-within", "2w")
	if !strings.Contains(out, `"keep_within": "336h0m0s"`) {
		t.Errorf("prune --json: %s", out)
	}
}

// Errors and warnings read as sentences, not as Go's or a logger's.
func TestPlainMessages(t *testing.T) {
	sd := t.TempDir()
	plain := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(plain, []byte("just some text\n"), 0o644)
	_, stderr, code := vfsctl(t, sd, "snapshot", "import", plain)
	if code != ctl.ExitRefused || !strings.Contains(stderr, "not a directory or tar archive") || strings.Contains(stderr, "EOF") {
		t.Errorf("import of a plain file: exit %d, %q", code, stderr)
	}
	dir := site(t, "v1")
	os.Symlink("/etc/passwd", filepath.Join(dir, "escape"))
	_, stderr, code = vfsctl(t, sd, "snapshot", "import", "--skip-unsupported", dir)
	if code != 0 || !strings.Contains(stderr, "vfsctl: skipped escape: symlink to \"/etc/passwd\" leaves the tree\n") || strings.Contains(stderr, "level=") {
		t.Errorf("a skipped entry: exit %d, %q", code, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var o, e bytes.Buffer
	code = run(ctx, []string{"--store", sd, "snapshot", "import", site(t, "v2")}, &o, &e)
	if code == 0 || !strings.Contains(e.String(), "interrupted: nothing imported") || strings.Contains(e.String(), "context canceled") {
		t.Errorf("an interrupted import: exit %d, %q", code, e.String())
	}
}

// Help for every command and group, a version, suggestions for typos, and
// completions that know the store's labels.
func TestHelpVersionSuggestionsCompletions(t *testing.T) {
	sd := t.TempDir()
	vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1"), "--label", "release-1", "--activate")
	cases := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"help"}, 0, "snapshot"},
		{[]string{"help", "activate"}, 0, "activation log"},
		{[]string{"snapshot"}, 0, "import"},
		{[]string{"snapshot", "--help"}, 0, "prune"},
		{[]string{"snapshot", "import", "--help"}, 0, "--skip-unsupported"},
		{[]string{"status", "--help"}, 0, "Usage:"},
		{[]string{"version"}, 0, "vfsctl "},
		{[]string{"--version"}, 0, "vfsctl "},
		{[]string{"statu"}, exitUsage, "Did you mean this?\n\tstatus"},
		{[]string{"snapshot", "imprt"}, exitUsage, "import"},
		{[]string{"completion", "bash"}, 0, "__start_vfsctl"},
		{[]string{"completion", "zsh"}, 0, "#compdef vfsctl"},
		{[]string{"completion", "fish"}, 0, "complete -c vfsctl"},
		{[]string{"__complete", "activate", "rel"}, 0, "release-1"},
		{[]string{"__complete", "snapshot", "show", ""}, 0, "current"},
	}
	for _, c := range cases {
		stdout, stderr, code := vfsctl(t, sd, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.says) {
			t.Errorf("%v: exit %d, %q %q; want exit %d saying %q", c.args, code, stdout, stderr, c.code, c.says)
		}
	}
}

// docs/cli.md's reference is generated from the command tree; it must be
// current. VFS_UPDATE_DOCS=1 rewrites it.
func TestCLIReferenceIsCurrent(t *testing.T) {
	ctltest.CheckGenerated(t, "../../docs/cli.md", "<!-- generated from vfsctl's command tree: do not edit -->\n",
		"<!-- end of generated reference -->\n", reference(rootCommand(&env{})))
}

// Man pages are generated for every command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if _, stderr, code := vfsctl(t, t.TempDir(), "gen-man", dir); code != 0 {
		t.Fatalf("gen-man: %d %s", code, stderr)
	}
	for _, page := range []string{"vfsctl.1", "vfsctl-activate.1", "vfsctl-snapshot-import.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), ".TH") {
			t.Errorf("%s: %v", page, err)
		}
	}
}

// export to a name ending in .tar.gz or .tgz writes a gzip-compressed tar
// that import reads back as the same snapshot; other archive-like names
// are refused rather than made into directories.
func TestExportTarGz(t *testing.T) {
	sd := t.TempDir()
	out, _, _ := vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1"))
	id := lastLine(out)
	for _, name := range []string{"site.tar.gz", "site.tgz"} {
		dst := filepath.Join(t.TempDir(), name)
		if _, stderr, code := vfsctl(t, sd, "snapshot", "export", id, dst); code != 0 {
			t.Fatalf("export %s: %d %s", name, code, stderr)
		}
		if fi, err := os.Stat(dst); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("%s is not a file: %v", name, err)
		}
		b, _ := os.ReadFile(dst)
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Fatalf("%s is not gzip", name)
		}
		back, stderr, code := vfsctl(t, sd, "-q", "snapshot", "import", dst)
		if code != 0 || lastLine(back) != id {
			t.Fatalf("re-import of %s: %d %q %s", name, code, back, stderr)
		}
	}
	dst := filepath.Join(t.TempDir(), "site.zip")
	if _, stderr, code := vfsctl(t, sd, "snapshot", "export", id, dst); code != exitUsage || !strings.Contains(stderr, ".zip") {
		t.Errorf("export to .zip: exit %d %q", code, stderr)
	}
}

// An unreachable vfsd is one exit code (1) with a message that names the
// cause: no socket, or a stale one nothing answers on.
func TestUnreachableDaemon(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	for sock, says := range map[string]string{
		filepath.Join(dir, "none.sock"): "no vfsd socket at " + filepath.Join(dir, "none.sock") + " (is vfsd running?)",
		stale:                           "is stale: nothing answers on it",
	} {
		var o, e bytes.Buffer
		code := run(context.Background(), []string{"--socket", sock, "status"}, &o, &e)
		if code != exitError || !strings.Contains(e.String(), says) {
			t.Errorf("%s: exit %d, %q; want exit 1 saying %q", sock, code, e.String(), says)
		}
	}
}

// Every command's --json is one style: snake_case keys, no null (lists are
// [], a missing hash is ""), durations as strings; a command that prints
// no JSON refuses --json.
func TestJSONStyle(t *testing.T) {
	sd := t.TempDir()
	vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1"), "--label", "one", "--activate")
	vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v2"), "--label", "two")
	var check func(path string, v any)
	check = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("%s is null", path)
		case map[string]any:
			for k, v := range x {
				if strings.ToLower(k) != k || strings.Contains(k, " ") {
					t.Errorf("%s: key %q is not snake_case", path, k)
				}
				check(path+"."+k, v)
			}
		case []any:
			for i, v := range x {
				check(fmt.Sprintf("%s[%d]", path, i), v)
			}
		}
	}
	for _, args := range [][]string{
		{"status"}, {"snapshot", "list"}, {"snapshot", "show", "one"}, {"snapshot", "show", "one", "index.html"},
		{"snapshot", "diff", "one", "two"}, {"log"}, {"verify"}, {"classes"}, {"snapshot", "prune", "--dry-run"},
		{"gc"}, {"activate", "two"}, {"rollback"}, {"snapshot", "label", "two", "again"}, {"purge", "index.html"},
		{"version"}, {"snapshot", "import", site(t, "v3")}, {"snapshot", "rm", "two"},
	} {
		out, stderr, code := vfsctl(t, sd, append([]string{"--json", "-q"}, args...)...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil {
			t.Errorf("%v --json: exit %d, %v: %q %q", args, code, err, out, stderr)
			continue
		}
		check(strings.Join(args, " "), v)
	}
	for _, args := range [][]string{{"config", "nginx"}, {"snapshot", "export", "one", t.TempDir() + "/x"}, {"backup", "-"}} {
		if _, _, code := vfsctl(t, sd, append([]string{"--json"}, args...)...); code != exitUsage {
			t.Errorf("%v --json: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// What a build directory holds by mistake stays out: VCS metadata always,
// what .vfsignore and --exclude name; a .env file is warned about.
func TestImportFilters(t *testing.T) {
	sd := t.TempDir()
	dir := site(t, "v1")
	for name, body := range map[string]string{
		".git/config": "[remote] url = https://token@example.com", ".env": "KEY=secret",
		".vfsignore": "drafts/\n*.map\n", "drafts/x.html": "draft", "assets/app.js.map": "{}",
		".well-known/security.txt": "Contact: x", ".htaccess": "Deny from none", "notes.txt": "private",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	out, stderr, code := vfsctl(t, sd, "snapshot", "import", dir, "--exclude", "notes.txt")
	if code != 0 {
		t.Fatalf("import: %d %s", code, stderr)
	}
	id := lastLine(out)
	if !strings.Contains(stderr, "vfsctl: warning: .env may hold secrets") || !strings.Contains(stderr, "left out by .vfsignore or --exclude") {
		t.Errorf("import said: %s", stderr)
	}
	export := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := vfsctl(t, sd, "snapshot", "export", id, export); code != 0 {
		t.Fatalf("export: %s", stderr)
	}
	for name, want := range map[string]bool{
		".git/config": false, ".vfsignore": false, "drafts/x.html": false, "assets/app.js.map": false, "notes.txt": false,
		".env": true, ".well-known/security.txt": true, ".htaccess": true, "index.html": true, "assets/app-3f2a1b9c.js": true,
	} {
		if _, err := os.Stat(filepath.Join(export, name)); (err == nil) != want {
			t.Errorf("%s: in the snapshot %v, want %v", name, err == nil, want)
		}
	}
}

// Dry runs: a directory against a snapshot, and an activation, change
// nothing.
func TestDryRuns(t *testing.T) {
	sd := t.TempDir()
	vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v1"), "--label", "v1", "--activate")
	dist := site(t, "v2")
	os.WriteFile(filepath.Join(dist, "new.html"), []byte("new"), 0o644)
	out, stderr, code := vfsctl(t, sd, "snapshot", "diff", "current", dist)
	if code != 0 || !strings.Contains(out, "M /index.html") || !strings.Contains(out, "+ /new.html") {
		t.Fatalf("diff against a directory: %d %q %s", code, out, stderr)
	}
	list, _, _ := vfsctl(t, sd, "--json", "snapshot", "list")
	if strings.Count(list, `"id"`) != 1 {
		t.Fatalf("the dry run imported something: %s", list)
	}
	out2, _, _ := vfsctl(t, sd, "-q", "snapshot", "import", dist)
	v2 := lastLine(out2)
	out, stderr, code = vfsctl(t, sd, "activate", "--dry-run", v2)
	if code != 0 || !strings.Contains(out, "would move current") || !strings.Contains(out, "1 added, 0 removed, 1 changed") {
		t.Fatalf("activate --dry-run: %d %q %s", code, out, stderr)
	}
	if logOut, _, _ := vfsctl(t, sd, "--json", "log"); strings.Count(logOut, `"seq"`) != 1 {
		t.Fatalf("the dry run activated: %s", logOut)
	}
}

// deploy imports, activates and says what changed, in one step.
func TestDeploy(t *testing.T) {
	sd := t.TempDir()
	out, stderr, code := vfsctl(t, sd, "deploy", site(t, "v1"), "--reason", "first")
	if code != 0 || !strings.Contains(stderr, "current: none -> ") || len(lastLine(out)) != 64 {
		t.Fatalf("first deploy: %d %q %q", code, out, stderr)
	}
	v2 := site(t, "v2")
	os.WriteFile(filepath.Join(v2, "new.html"), []byte("new"), 0o644)
	out, stderr, code = vfsctl(t, sd, "deploy", v2, "--reason", "second")
	if code != 0 || !strings.Contains(stderr, "1 added, 0 removed, 1 changed") {
		t.Fatalf("second deploy: %d %q", code, stderr)
	}
	st, _, _ := vfsctl(t, sd, "--json", "status")
	if !strings.Contains(st, lastLine(out)) {
		t.Fatalf("deploy did not activate: %s", st)
	}
	logOut, _, _ := vfsctl(t, sd, "--json", "log")
	if !strings.Contains(logOut, `"reason": "second"`) {
		t.Fatalf("log: %s", logOut)
	}
}

// docs/examples/nginx.conf, apache.conf and Caddyfile are vfsctl config's
// output with its defaults (nginx's with --brotli on); they must be current. VFS_UPDATE_DOCS=1
// rewrites them.
func TestExampleConfigsAreCurrent(t *testing.T) {
	for server, file := range map[string]string{"nginx": "nginx.conf", "apache": "apache.conf", "caddy": "Caddyfile"} {
		args := []string{"config", server}
		if server == "nginx" {
			args = append(args, "--brotli", "on") // not whether this machine has the module
		}
		out, stderr, code := vfsctl(t, t.TempDir(), args...)
		if code != 0 {
			t.Fatalf("config %s: %s", server, stderr)
		}
		path := "../../docs/examples/" + file
		b, _ := os.ReadFile(path)
		if string(b) == out {
			continue
		}
		if os.Getenv("VFS_UPDATE_DOCS") == "1" {
			os.WriteFile(path, []byte(out), 0o644)
			continue
		}
		t.Errorf("%s is not what 'vfsctl config %s' prints: run VFS_UPDATE_DOCS=1 go test ./cmd/vfsctl -run TestExampleConfigsAreCurrent", path, server)
	}
}

// Names with terminal escapes are quoted wherever they are printed, as
// vfsctl log quotes reasons: a file name cannot repaint the terminal.
func TestNamesAreQuoted(t *testing.T) {
	sd := t.TempDir()
	evil := "x\x1b[2J\x1b[31mred.html"
	dir := site(t, "v1")
	os.WriteFile(filepath.Join(dir, evil), []byte("boo"), 0o644)
	os.Symlink(evil, filepath.Join(dir, "link\x1b]0;title\x07"))
	out, _, _ := vfsctl(t, sd, "-q", "snapshot", "import", dir, "--message", "deploy\x1b[2J")
	id := lastLine(out)
	other, _, _ := vfsctl(t, sd, "-q", "snapshot", "import", site(t, "v2"))
	for _, args := range [][]string{
		{"snapshot", "diff", strings.TrimSpace(other), id},
		{"snapshot", "show", id},
		{"snapshot", "list"},
	} {
		out, errOut, code := vfsctl(t, sd, args...)
		if code != 0 || !strings.Contains(out, `\x1b`) {
			t.Errorf("%v: exit %d, no quoted name in %q %s", args, code, out, errOut)
		}
		if strings.ContainsAny(out+errOut, "\x1b\x07") {
			t.Errorf("%v printed a raw escape: %q", args, out)
		}
	}
}
