package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tarMember is one member of a hand-made archive.
type tarMember struct {
	name, body, link string
	typ              byte
}

func writeTar(t *testing.T, gz bool, members ...tarMember) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(&buf)
	if gz {
		tw = tar.NewWriter(zw)
	}
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o644, Linkname: m.link, Format: tar.FormatPAX}
		if m.typ == tar.TypeReg {
			h.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(m.body))
	}
	tw.Close()
	if gz {
		zw.Close()
	}
	p := filepath.Join(t.TempDir(), "site.tar")
	if gz {
		p += ".gz"
	}
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// Hostile archives and trees, imported through a real vfsd: each is refused
// with exit 6 and a message naming the path, or imported as it should be;
// nothing partial is recorded, verify stays clean, and the daemon keeps
// serving throughout.
func TestHostileImports(t *testing.T) {
	d := startDaemon(t)
	live := d.importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("live site")}))
	d.ctl(t, "-q", "activate", live)
	reg := func(name, body string) tarMember { return tarMember{name: name, body: body, typ: tar.TypeReg} }
	ok := reg("index.html", "ok")
	name255, name256 := strings.Repeat("n", 255), strings.Repeat("n", 256)
	goodTar := writeTar(t, true, ok, reg("x.js", "x"))
	raw, _ := os.ReadFile(goodTar)
	truncated := filepath.Join(t.TempDir(), "cut.tar.gz")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	noTrailer := filepath.Join(t.TempDir(), "notrailer.tar.gz")
	os.WriteFile(noTrailer, raw[:len(raw)-6], 0o644)
	crc := bytes.Clone(raw)
	crc[len(crc)-6] ^= 0xff // in gzip's CRC
	badCRC := filepath.Join(t.TempDir(), "crc.tar.gz")
	os.WriteFile(badCRC, crc, 0o644)
	loop := t.TempDir()
	os.WriteFile(filepath.Join(loop, "index.html"), []byte("x"), 0o644)
	os.Symlink("b/x", filepath.Join(loop, "a"))
	os.Symlink("a/x", filepath.Join(loop, "b"))
	cases := []struct {
		name, src string
		code      int
		mention   string // what the error must name
	}{
		{"dot-dot member", writeTar(t, false, ok, reg("../evil", "x")), 6, "../evil"},
		{"absolute member", writeTar(t, false, ok, reg("/etc/evil", "x")), 6, "/etc/evil"},
		{"write through a symlink", writeTar(t, false, ok, tarMember{name: "l", link: "/tmp", typ: tar.TypeSymlink}, reg("l/evil", "x")), 6, "l"},
		{"hard link out", writeTar(t, false, ok, tarMember{name: "h", link: "../etc/shadow", typ: tar.TypeLink}), 6, "h"},
		{"device", writeTar(t, false, ok, tarMember{name: "dev", typ: tar.TypeChar}), 6, "dev"},
		{"fifo", writeTar(t, false, ok, tarMember{name: "fifo", typ: tar.TypeFifo}), 6, "fifo"},
		{"256-byte name", writeTar(t, false, ok, reg(name256, "x")), 6, "nnnn"},
		{"non-UTF-8 name", writeTar(t, false, ok, reg("caf\xe9.html", "x")), 6, "caf"},
		{"truncated .tar.gz", truncated, 6, "archive"},
		{".tar.gz without its trailer", noTrailer, 6, "archive"},
		{".tar.gz with a bad CRC", badCRC, 6, "archive"},
		{"symlink loop", loop, 6, "a"},
		{"links that escape only together", writeTar(t, false, ok,
			tarMember{name: "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/up", link: strings.Repeat("../", 9) + "..", typ: tar.TypeSymlink},
			tarMember{name: "leak", link: "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/up/" + strings.Repeat("../", 11) + "etc/passwd", typ: tar.TypeSymlink}), 6, "leak"},
		{"a path 2,100 levels deep", writeTar(t, false, ok, reg(strings.Repeat("a/", 2100)+"f", "x")), 6, "levels"},
		{"links inside that chain", writeTar(t, false, ok,
			tarMember{name: "d/up", link: "..", typ: tar.TypeSymlink},
			tarMember{name: "home.html", link: "d/up/index.html", typ: tar.TypeSymlink}), 0, ""},
		{"hard link to an earlier file", writeTar(t, false, ok, tarMember{name: "h", link: "index.html", typ: tar.TypeLink}), 0, ""},
		{"duplicate members: the last wins", writeTar(t, false, reg("index.html", "first"), reg("index.html", "last")), 0, ""},
		{"255-byte name", writeTar(t, false, ok, reg(name255, "x")), 0, ""},
		{"intact .tar.gz", goodTar, 0, ""},
	}
	for _, c := range cases {
		before := len(strings.Split(strings.TrimSpace(d.ctl(t, "snapshot", "list")), "\n"))
		out, errb, err := d.try("-q", "snapshot", "import", c.src)
		if got := exitCode(err); got != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, got, c.code, errb)
		}
		after := len(strings.Split(strings.TrimSpace(d.ctl(t, "snapshot", "list")), "\n"))
		if c.code != 0 {
			if !strings.Contains(errb, c.mention) {
				t.Errorf("%s: the error does not name %q: %s", c.name, c.mention, errb)
			}
			if after != before {
				t.Errorf("%s: refused, yet the snapshot list grew from %d to %d lines", c.name, before, after)
			}
		} else if c.name == "duplicate members: the last wins" {
			id := strings.TrimSpace(out)
			if got := readMount(t, d, "snapshots/"+id+"/index.html"); got != "last" {
				t.Errorf("%s: index.html = %q", c.name, got)
			}
		}
		if got := readMount(t, d, "current/index.html"); got != "live site" {
			t.Fatalf("after %s the daemon serves %q", c.name, got)
		}
	}
	// A 2 GiB sparse file imports without holding it in memory: its
	// zero chunks are one chunk stored once.
	sparse := t.TempDir()
	f, _ := os.Create(filepath.Join(sparse, "big.bin"))
	f.Truncate(2 << 30)
	f.Close()
	id := strings.TrimSpace(d.ctl(t, "-q", "snapshot", "import", sparse))
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(d.mnt, "snapshots", id, "big.bin"), &st); err != nil || st.Size != 2<<30 {
		t.Fatalf("sparse file through the mount: %v, size %d", err, st.Size)
	}
	d.ctl(t, "verify")
}
