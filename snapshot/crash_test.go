package snapshot

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vfs-project/vfs/store"
)

// The crash rule: an import killed at any point leaves the store as it was,
// plus objects no snapshot names. A child process imports trees in a loop
// and is killed with SIGKILL at random moments; after each kill the store
// must open, and every snapshot it lists must be complete and verify.
func TestImportKilledAtRandomPoints(t *testing.T) {
	if os.Getenv("VFS_CRASH_CHILD") != "" {
		crashChild(os.Getenv("VFS_CRASH_STORE"), os.Getenv("VFS_CRASH_SRC"))
		return
	}
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	storeDir, src := t.TempDir(), t.TempDir()
	for i := 0; i < 40; i++ {
		writeTree(t, src, map[string]string{fmt.Sprintf("d%d/f%d.bin", i%5, i): string(make([]byte, 40000+i))})
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("VFS_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (VFS_CRASH_SEED repeats the kill times)", seed)
	rng := rand.New(rand.NewSource(seed))
	kept := 0
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportKilledAtRandomPoints$")
		cmd.Env = append(os.Environ(), "VFS_CRASH_CHILD=1", "VFS_CRASH_STORE="+storeDir, "VFS_CRASH_SRC="+src)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rng.Intn(900)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		kept = checkStoreConsistent(t, storeDir)
	}
	// Otherwise every kill came before the first commit, and the rule
	// was tested only on empty stores.
	if kept == 0 {
		t.Fatal("no import committed before any of the kills")
	}
}

// crashChild imports src again and again, each time with a changed file so
// that every import writes new objects.
func crashChild(storeDir, src string) {
	st, err := store.Open(storeDir, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		os.WriteFile(filepath.Join(src, "changing.txt"), []byte(fmt.Sprintf("%d %d", os.Getpid(), i)), 0o644)
		if _, err := ImportDir(context.Background(), st, src, ImportOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// checkStoreConsistent checks the store in dir and returns how many
// snapshots it holds.
func checkStoreConsistent(t *testing.T, dir string) int {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer st.Close()
	rep, err := Verify(context.Background(), st, nil, nil)
	if err != nil {
		t.Fatalf("verify after kill: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("after kill, %d snapshots have problems: %+v", rep.Snapshots, rep.Problems)
	}
	all, _ := st.Snapshots()
	for _, s := range all {
		n := 0
		store.Walk(st, s.ID, func(string, store.Entry) error { n++; return nil }, nil)
		if uint64(n) != s.Files+s.Dirs-1 {
			t.Fatalf("snapshot %s: walked %d entries, record says %d files and %d dirs", s.ID.Short(), n, s.Files, s.Dirs)
		}
	}
	t.Logf("store holds %d complete snapshots", len(all))
	return len(all)
}
