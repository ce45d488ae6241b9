package integration

import (
	"os"
	"os/exec"
	"testing"
)

// need skips the test when a program is missing, or fails it under
// VFS_REQUIRE_ALL=1, where every prerequisite was installed on purpose.
func need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			missing(t, p+" is not installed")
		}
	}
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("VFS_REQUIRE_ALL") != "" {
		t.Fatalf("prerequisite missing: %s (VFS_REQUIRE_ALL is set)", why)
	}
	t.Skip(why)
}

// sh runs a command, failing the test with its output if it fails.
func sh(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
