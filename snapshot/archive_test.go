package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// A damaged compressed archive never imports: every byte of the stream is
// read and checked (gzip's CRC and length trailer), and a truncated one is
// called truncated, not a file that changed.
func TestDamagedArchivesAreRefused(t *testing.T) {
	body := strings.Repeat("the quick brown fox jumps over the lazy dog ", 2000)
	good := makeTar(t, true, []member{{name: "index.html", body: body, typ: tar.TypeReg}})
	flipped := bytes.Clone(good)
	flipped[len(flipped)-6] ^= 0xff // inside the CRC
	midFlip := bytes.Clone(good)
	midFlip[len(midFlip)/2] ^= 0x01
	cases := map[string][]byte{
		"CRC flipped":         flipped,
		"byte flipped inside": midFlip,
		"trailer missing":     good[:len(good)-6],
		"cut in half":         good[:len(good)/2],
		"tar cut mid-file":    makeTar(t, false, []member{{name: "index.html", body: body, typ: tar.TypeReg}})[:8000],
	}
	for name, data := range cases {
		st := openStore(t)
		_, err := ImportTar(context.Background(), st, bytes.NewReader(data), "site.tar.gz", ImportOptions{})
		if !errors.Is(err, ErrBadArchive) {
			t.Errorf("%s: %v, want ErrBadArchive", name, err)
		}
		if all, _ := st.Snapshots(); len(all) != 0 {
			t.Errorf("%s: a snapshot was recorded", name)
		}
	}
	st := openStore(t)
	if _, err := ImportTar(context.Background(), st, bytes.NewReader(good), "site.tar.gz", ImportOptions{}); err != nil {
		t.Fatalf("the intact archive: %v", err)
	}
}
