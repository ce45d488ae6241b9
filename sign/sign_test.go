package sign_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/crypto/ssh"
)

// keygen makes an ssh key pair with ssh-keygen and returns the private
// key's path and the public key's line.
func keygen(t *testing.T, kind string) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (apt-get install openssh-client)")
	}
	key := filepath.Join(t.TempDir(), "id_"+kind)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "ci@example", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(pub))
}

// keygenSign signs msg with ssh-keygen -Y sign.
func keygenSign(t *testing.T, key, namespace string, msg []byte) []byte {
	t.Helper()
	cmd := exec.Command("ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", key)
	cmd.Stdin = bytes.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v", err)
	}
	return out
}

func signers(t *testing.T, text string) *sign.Signers {
	t.Helper()
	s, err := sign.ParseSigners(strings.NewReader(text), "allowed_signers")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signerFile(t *testing.T, key string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Signatures interoperate with OpenSSH both ways: one ssh-keygen -Y sign
// made is accepted, and one vfs made passes ssh-keygen -Y verify.
func TestInteropWithSSHKeygen(t *testing.T) {
	id := store.Sum([]byte("a snapshot"))
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			key, pub := keygen(t, kind)
			allowed := "release@example namespaces=\"vfs\" " + pub + "\n"
			ss := signers(t, allowed)
			got, err := ss.Check(id, [][]byte{keygenSign(t, key, "vfs", sign.Message(id))}, time.Now())
			if err != nil {
				t.Fatalf("a signature from ssh-keygen: %v", err)
			}
			if got.Principal() != "release@example" {
				t.Errorf("principal %q", got.Principal())
			}
			ours, err := sign.Sign(id, signerFile(t, key))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "allowed"), []byte(allowed), 0o644)
			os.WriteFile(filepath.Join(dir, "sig"), ours, 0o644)
			cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", filepath.Join(dir, "allowed"), "-I", "release@example", "-n", "vfs", "-s", filepath.Join(dir, "sig"))
			cmd.Stdin = bytes.NewReader(sign.Message(id))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y verify of vfs's signature: %v %s", err, out)
			}
			if _, err := ss.Check(id, [][]byte{ours}, time.Now()); err != nil {
				t.Errorf("vfs's own signature: %v", err)
			}
		})
	}
}

// Each reason a snapshot is unsigned is refused with ErrUnsigned (or, for
// bytes that are no signature, ErrBadSignature from Parse), saying why.
func TestRefusals(t *testing.T) {
	id := store.Sum([]byte("a snapshot"))
	other := store.Sum([]byte("another snapshot"))
	key, pub := keygen(t, "ed25519")
	stranger, _ := keygen(t, "ed25519")
	good := keygenSign(t, key, "vfs", sign.Message(id))
	now := time.Now()
	for _, c := range []struct {
		name, allowed string
		sigs          [][]byte
		why           string
	}{
		{"no signature", "a " + pub, nil, "no signature"},
		{"unknown key", "a " + pub, [][]byte{keygenSign(t, stranger, "vfs", sign.Message(id))}, "is not an allowed signer"},
		{"expired key", `a valid-before="20200101" ` + pub, [][]byte{good}, "expired at 2020-01-01"},
		{"not yet valid", `a valid-after="29991231Z" ` + pub, [][]byte{good}, "valid only after 2999-12-31"},
		{"key not for vfs", `a namespaces="git,file" ` + pub, [][]byte{good}, `may not sign in namespace "vfs"`},
		{"key negated for vfs", `a namespaces="*,!vfs" ` + pub, [][]byte{good}, `may not sign in namespace "vfs"`},
		{"another snapshot", "a " + pub, [][]byte{keygenSign(t, key, "vfs", sign.Message(other))}, "does not verify"},
		{"another namespace", "a " + pub, [][]byte{keygenSign(t, key, "git", sign.Message(id))}, `namespace "git"`},
		{"truncated", "a " + pub, [][]byte{good[:len(good)/2]}, "not an armored SSH signature"},
		{"garbage", "a " + pub, [][]byte{[]byte("-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n")}, "not an armored SSH signature"},
		{"oversized", "a " + pub, [][]byte{bytes.Repeat([]byte("A"), store.MaxSignatureLen+1)}, "at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := signers(t, c.allowed).Check(id, c.sigs, now)
			if !errors.Is(err, sign.ErrUnsigned) || !strings.Contains(err.Error(), c.why) {
				t.Errorf("%v, want unsigned saying %q", err, c.why)
			}
		})
	}
	// One good signature among bad ones is enough.
	if _, err := signers(t, "a "+pub).Check(id, [][]byte{[]byte("junk"), good}, now); err != nil {
		t.Errorf("a good signature after a bad one: %v", err)
	}
	// Parse, as attaching does, refuses what is no signature of id.
	if _, err := sign.Parse(other, good); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("a signature attached to another snapshot: %v", err)
	}
}

// An allowed signers file with a syntax error is refused, naming its line.
func TestSignersFileErrors(t *testing.T) {
	_, pub := keygen(t, "ed25519")
	for _, c := range []struct{ text, want string }{
		{"# comment\n\nalice\n", "line 3: principals, then a public key"},
		{"alice ssh-ed25519 AAAAnotbase64!!\n", "line 1: options and public key"},
		{"alice valid-before=\"2020\" " + pub + "\n", "line 1: valid-before"},
		{"ok " + pub + "\nca cert-authority " + pub + "\n", "line 2: cert-authority"},
		{"alice bogus=\"x\" " + pub + "\n", `line 1: unknown option "bogus"`},
		{`"alice ` + pub + "\n", "line 1: principals: no closing quote"},
	} {
		_, err := sign.ParseSigners(strings.NewReader(c.text), "allowed_signers")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
	s := signers(t, "# release keys\nalice@example,bob@example "+pub+" laptop\n\"carol example\" namespaces=\"vfs\",valid-after=\"20240101\" "+pub+"\n")
	if len(s.Signers) != 2 || s.Signers[0].Principal() != "alice@example,bob@example" || s.Signers[1].Principal() != "carol example" || s.Signers[1].Line != 3 {
		t.Errorf("parsed %+v", s.Signers)
	}
}
