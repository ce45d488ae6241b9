package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Post-activation hooks: one that succeeds sees VFS_REF, VFS_FROM and
// VFS_TO; one that fails and one that outlives --hook-timeout are reported
// (vfsctl exits 1 and says which) while the activation stands.
func TestActivationHooks(t *testing.T) {
	out := filepath.Join(publicTempDir(t), "hook.out")
	d := startDaemon(t,
		"--hook", `echo "$VFS_REF $VFS_FROM $VFS_TO" >> `+out,
		"--hook", `test "$VFS_TO" != "$FAIL_ON" || { echo "cdn purge refused" >&2; exit 3; }`,
		"--hook", `test -z "$SLOW" || sleep 5`,
		"--hook-timeout", "1s")
	v1 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("1")}))
	v2 := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("2")}))
	d.ctl(t, "-q", "activate", v1)
	got, _ := os.ReadFile(out)
	if strings.TrimSpace(string(got)) != "current  "+v1 {
		t.Fatalf("hook saw %q, want %q", got, "current  "+v1)
	}

	// The second hook fails for v2: reported, and v2 is active anyway.
	d.stop(t)
	os.Setenv("FAIL_ON", v2) // vfsd passes its environment to hooks
	defer os.Unsetenv("FAIL_ON")
	d.start(t)
	_, stderr, err := d.try("activate", v2)
	if err == nil || !strings.Contains(stderr, "cdn purge refused") || !strings.Contains(stderr, "activated, but 1 hook failed") {
		t.Fatalf("failing hook: %v %q", err, stderr)
	}
	if cur := readMount(t, d, "current/index.html"); cur != "2" {
		t.Fatalf("after a failing hook current is %q: the activation must stand", cur)
	}

	d.stop(t)
	os.Setenv("SLOW", "1")
	defer os.Unsetenv("SLOW")
	d.start(t)
	_, stderr, err = d.try("activate", v1)
	if err == nil || !strings.Contains(stderr, "timed out after 1s") {
		t.Fatalf("slow hook: %v %q", err, stderr)
	}
	if !strings.Contains(d.log.String(), "activation hook failed") {
		t.Errorf("no log line for the failed hooks:\n%s", d.log)
	}
}
