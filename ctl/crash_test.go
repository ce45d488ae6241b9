package ctl_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// serveStore opens the store in dir and serves it on a socket in this
// process, as vfsd does; stop closes both.
func serveStore(dir string) (sock string, stop func(), err error) {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		return "", nil, err
	}
	sock = filepath.Join(dir, "..", fmt.Sprintf("s%d", os.Getpid()))
	os.Remove(sock)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		st.Close()
		return "", nil, err
	}
	srv := ctl.NewServer(ctl.NewLocal(st, snapshot.Who{}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(l)
	return sock, func() { l.Close(); srv.Shutdown(5 * time.Second); st.Close() }, nil
}

// A daemon killed at any moment of an import through the socket leaves a
// store in which the next import of the same tree, and of another tree
// sharing its files, succeed: the stat cache never vouches for content
// that the crash lost.
func TestSocketImportKilledAtRandomPoints(t *testing.T) {
	if os.Getenv("VFS_CRASH_CHILD") != "" {
		socketCrashChild(os.Getenv("VFS_CRASH_STORE"), os.Getenv("VFS_CRASH_SRC"))
		return
	}
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("VFS_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (VFS_CRASH_SEED repeats it)", seed)
	rng := rand.New(rand.NewSource(seed))
	storeDir, src := filepath.Join(t.TempDir(), "store"), t.TempDir()
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSocketImportKilledAtRandomPoints$")
		cmd.Env = append(os.Environ(), "VFS_CRASH_CHILD=1", "VFS_CRASH_STORE="+storeDir, "VFS_CRASH_SRC="+src)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(500+rng.Intn(2500)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// The same tree the killed import was sending, and a copy of it
		// at other paths, which shares its contents but not its stat
		// cache entries.
		other := t.TempDir()
		if err := exec.Command("cp", "-a", src+"/.", other).Run(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(other, "only-here.txt"), []byte("other"), 0o644)
		reimportAfterCrash(t, storeDir, src, other)
	}
}

// reimportAfterCrash imports src, then other, through a fresh daemon on the
// store; each must commit.
func reimportAfterCrash(t *testing.T, storeDir string, dirs ...string) {
	t.Helper()
	sock, stop, err := serveStore(storeDir)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer stop()
	c, err := ctl.Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, dir := range dirs {
		if _, err := snapshot.ImportDir(context.Background(), c, dir, snapshot.ImportOptions{}); err != nil {
			t.Fatalf("import of %s after a kill: %v", filepath.Base(dir), err)
		}
	}
}

// socketCrashChild serves the store and imports src through the socket
// again and again, each time with new content in every file: 12,000
// files of 2 KiB, so that records are sent in several requests (8,192 a
// request) and objects reach the disk in several batches (16 MiB each).
func socketCrashChild(storeDir, src string) {
	sock, _, err := serveStore(storeDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := ctl.Dial(context.Background(), sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	data := make([]byte, 2<<10)
	for {
		for i := 0; i < 12000; i++ {
			rand.Read(data)
			p := filepath.Join(src, fmt.Sprintf("d%d/f%d.bin", i%16, i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, data, 0o644)
		}
		if _, err := snapshot.ImportDir(context.Background(), c, src, snapshot.ImportOptions{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
