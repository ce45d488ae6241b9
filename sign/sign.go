// Package sign signs snapshots and checks their signatures against an
// allowed signers file, in OpenSSH's formats, so that the keys and tools
// people already have (ssh-keygen -Y, an ssh-agent, git's signing keys)
// sign and check vfs releases too.
//
// Its words:
//   - The message of snapshot ID is exactly "vfs-snapshot <64 hex digits of
//     ID>\n". A snapshot's id is the hash of everything in it, so one
//     signature over the message covers every byte the snapshot serves.
//   - A signature is an armored SSHSIG ("-----BEGIN SSH SIGNATURE-----")
//     over the message in the namespace "vfs": what `ssh-keygen -Y sign -n
//     vfs` makes. The SSHSIG format is github.com/hiddeco/sshsig's, on
//     golang.org/x/crypto/ssh; nothing here computes a signature.
//   - The allowed signers file is OpenSSH's (ssh-keygen(1), "ALLOWED
//     SIGNERS"): one key per line with the principals it speaks for and
//     the options namespaces, valid-after and valid-before.
//   - A principal is who a valid signature stands for: the principals of
//     the allowed signers line whose key made it.
//   - A snapshot is signed under a set of allowed signers when one of its
//     signatures is valid for one of their keys, now. Otherwise it is
//     unsigned (ErrUnsigned), with the reason for each signature it has.
package sign

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/hiddeco/sshsig"
	"github.com/vfs-project/vfs/store"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Namespace is the SSHSIG namespace of vfs's signatures: a signature made
// for git (namespace "git") or for files ("file") never passes for a
// release.
const Namespace = "vfs"

// hash is the message hash signatures are made with (ssh-keygen's
// default); either of SSHSIG's is accepted.
const hash = sshsig.HashSHA512

// Message is what a signature of snapshot id signs.
func Message(id store.Ref) []byte { return []byte("vfs-snapshot " + id.String() + "\n") }

// ErrUnsigned: a snapshot lacks a valid signature from an allowed signer
// (the error says what each of its signatures lacked).
var ErrUnsigned = errors.New("unsigned")

// ErrBadSignature: bytes that are not a signature of the snapshot they are
// given for (malformed, truncated, oversized, of another message or
// namespace, or of a key type the library does not support).
var ErrBadSignature = fmt.Errorf("bad signature: %w", store.ErrInvalid)

// Sign signs snapshot id with signer (a private key, or a key of an agent)
// and returns the armored signature.
func Sign(id store.Ref, signer ssh.Signer) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(Message(id)), signer, hash, Namespace)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", id.Short(), err)
	}
	return sshsig.Armor(sig), nil
}

// Signature is one signature of a snapshot, checked to be a true SSHSIG of
// the snapshot's message by the key it names (not yet that the key is
// allowed: Signers.Check does that).
type Signature struct {
	Armored []byte
	Key     ssh.PublicKey
}

// Fingerprint is the signing key's SHA256 fingerprint, as ssh-keygen -l
// prints it.
func (s *Signature) Fingerprint() string { return ssh.FingerprintSHA256(s.Key) }

// Parse checks that armored is an SSHSIG of snapshot id's message in the
// namespace vfs by the key it carries. What fails is ErrBadSignature,
// saying why; nothing that fails is ever attached to a snapshot.
func Parse(id store.Ref, armored []byte) (*Signature, error) {
	bad := func(why string, err error) error {
		if err != nil {
			why += ": " + err.Error()
		}
		return fmt.Errorf("signature of %s: %s: %w", id.Short(), why, ErrBadSignature)
	}
	if len(armored) > store.MaxSignatureLen {
		return nil, bad(fmt.Sprintf("%d bytes, at most %d", len(armored), store.MaxSignatureLen), nil)
	}
	sig, err := sshsig.Unarmor(bytes.TrimSpace(armored))
	if err != nil {
		return nil, bad("not an armored SSH signature (ssh-keygen -Y sign makes one)", err)
	}
	if sig.Namespace != Namespace {
		return nil, bad(fmt.Sprintf("made for namespace %q, not %q (sign with ssh-keygen -Y sign -n vfs)", sig.Namespace, Namespace), nil)
	}
	if err := sshsig.Verify(bytes.NewReader(Message(id)), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return nil, bad(fmt.Sprintf("does not verify with its key %s over %q (a signature of another snapshot?)", ssh.FingerprintSHA256(sig.PublicKey), Message(id)), err)
	}
	return &Signature{Armored: append([]byte(nil), armored...), Key: sig.PublicKey}, nil
}

// LoadSigner finds the key to sign with at path: a private key file (not
// passphrase-protected: vfsctl does not prompt), or a public key (.pub)
// whose private half the ssh-agent at SSH_AUTH_SOCK holds.
func LoadSigner(path string) (ssh.Signer, func(), error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("signing key: %w", err)
	}
	if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
		return agentSigner(path, pub)
	}
	s, err := ssh.ParsePrivateKey(b)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, nil, fmt.Errorf("signing key %s is protected by a passphrase: add it to ssh-agent (ssh-add %s) and give --key %s.pub", path, path, path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, func() {}, nil
}

// agentSigner is the key of the ssh-agent that matches pub.
func agentSigner(path string, pub ssh.PublicKey) (ssh.Signer, func(), error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, fmt.Errorf("signing key %s is a public key: its private half must be in an ssh-agent, and SSH_AUTH_SOCK is not set", path)
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh-agent at %s: %w", sock, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh-agent at %s: %w", sock, err)
	}
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return s, func() { conn.Close() }, nil
		}
	}
	conn.Close()
	return nil, nil, fmt.Errorf("the ssh-agent at %s does not hold the key of %s (%s): ssh-add it", sock, path, ssh.FingerprintSHA256(pub))
}
