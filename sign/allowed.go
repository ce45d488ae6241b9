package sign

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/vfs-project/vfs/store"
	"golang.org/x/crypto/ssh"
)

// An allowed signers file, as OpenSSH reads one (ssh-keygen(1), "ALLOWED
// SIGNERS"): per line, principals (comma-separated, patterns allowed),
// options, a public key and a comment; blank lines and lines starting with
// # are skipped. The options this reads are namespaces="..." (patterns; a
// key without it may sign in any namespace), valid-after="..." and
// valid-before="..." (YYYYMMDD[HHMM[SS]], with Z for UTC, else local
// time). cert-authority lines are refused: vfs checks plain keys.

// MaxSignersFile bounds an allowed signers file.
const MaxSignersFile = 1 << 20

// Signer is one line of an allowed signers file.
type Signer struct {
	Line        int
	Principals  []string
	Key         ssh.PublicKey
	Namespaces  []string // nil: any
	ValidAfter  time.Time
	ValidBefore time.Time
}

// Principal names the signer as a log line does: its principals.
func (s Signer) Principal() string { return strings.Join(s.Principals, ",") }

// Signers is an allowed signers file, read.
type Signers struct {
	Source  string // the file it was read from
	Signers []Signer
}

// ReadSigners reads the allowed signers file at name.
func ReadSigners(name string) (*Signers, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("allowed signers: %w", err)
	}
	defer f.Close()
	return ParseSigners(f, name)
}

// ParseSigners reads an allowed signers file from r; name is for errors,
// which name the line.
func ParseSigners(r io.Reader, name string) (*Signers, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxSignersFile+1))
	if err != nil {
		return nil, fmt.Errorf("allowed signers %s: %w", name, err)
	}
	if len(b) > MaxSignersFile {
		return nil, fmt.Errorf("allowed signers %s: over %d bytes", name, MaxSignersFile)
	}
	out := &Signers{Source: name}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, MaxSignersFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSigner(line)
		if err != nil {
			return nil, fmt.Errorf("allowed signers %s line %d: %w", name, n, err)
		}
		s.Line = n
		out.Signers = append(out.Signers, s)
	}
	return out, nil
}

func parseSigner(line string) (Signer, error) {
	var s Signer
	var principals, rest string
	if line[0] == '"' {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return s, errors.New("principals: no closing quote")
		}
		principals, rest = line[1:1+end], line[2+end:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return s, errors.New("principals, then a public key: found only one field")
		}
		principals, rest = line[:i], line[i:]
	}
	for _, p := range strings.Split(principals, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.Principals = append(s.Principals, p)
		}
	}
	if len(s.Principals) == 0 {
		return s, errors.New("no principal")
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return s, fmt.Errorf("options and public key: %v", err)
	}
	s.Key = key
	for _, o := range options {
		name, value, hasValue := strings.Cut(o, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "namespaces":
			s.Namespaces = strings.Split(value, ",")
		case "valid-after":
			if s.ValidAfter, err = parseTime(value); err != nil {
				return s, fmt.Errorf("valid-after: %w", err)
			}
		case "valid-before":
			if s.ValidBefore, err = parseTime(value); err != nil {
				return s, fmt.Errorf("valid-before: %w", err)
			}
		case "cert-authority":
			return s, errors.New("cert-authority: certificate signers are not supported; list each key")
		default:
			return s, fmt.Errorf("unknown option %q (namespaces, valid-after, valid-before)", name)
		}
		if !hasValue && name != "cert-authority" {
			return s, fmt.Errorf("option %s needs a value", name)
		}
	}
	return s, nil
}

// parseTime reads OpenSSH's YYYYMMDD[HHMM[SS]][Z].
func parseTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	layout := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}[len(v)]
	if layout == "" {
		return time.Time{}, fmt.Errorf("%q: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with Z for UTC", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %v", v, err)
	}
	return t, nil
}

// allows reports whether the signer may sign in namespace vfs.
func (s Signer) allows(namespace string) bool {
	if s.Namespaces == nil {
		return true
	}
	ok := false
	for _, p := range s.Namespaces {
		neg := strings.HasPrefix(p, "!")
		if m, _ := path.Match(strings.TrimPrefix(p, "!"), namespace); m {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

// Check finds the first of sigs that is valid for snapshot id from one of
// the signers at time now, and returns that signer. Without one it is
// ErrUnsigned, saying for each signature why it did not count: no
// signature, a key that is not allowed, a key not yet or no longer valid,
// a key not allowed in the namespace vfs, or bytes that are no signature
// of id.
func (ss *Signers) Check(id store.Ref, sigs [][]byte, now time.Time) (Signer, error) {
	if len(sigs) == 0 {
		return Signer{}, fmt.Errorf("snapshot %s has no signature (vfsctl snapshot sign): %w", id.Short(), ErrUnsigned)
	}
	var why []string
	for _, b := range sigs {
		sig, err := Parse(id, b)
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		s, err := ss.Allowed(sig, now)
		if err == nil {
			return s, nil
		}
		why = append(why, err.Error())
	}
	return Signer{}, fmt.Errorf("snapshot %s has no valid signature from %s: %s: %w", id.Short(), ss.Source, strings.Join(why, "; "), ErrUnsigned)
}

// Allowed finds the signer whose key made sig (a signature Parse
// checked) and may sign at time now; the error says why none does.
func (ss *Signers) Allowed(sig *Signature, now time.Time) (Signer, error) {
	fp := sig.Fingerprint()
	var why string
	for _, s := range ss.Signers {
		if !bytes.Equal(s.Key.Marshal(), sig.Key.Marshal()) {
			continue
		}
		switch {
		case !s.allows(Namespace):
			why = fmt.Sprintf("key %s (%s, line %d) may not sign in namespace %q", fp, s.Principal(), s.Line, Namespace)
		case !s.ValidAfter.IsZero() && now.Before(s.ValidAfter):
			why = fmt.Sprintf("key %s (%s, line %d) is valid only after %s", fp, s.Principal(), s.Line, s.ValidAfter.Format(time.RFC3339))
		case !s.ValidBefore.IsZero() && !now.Before(s.ValidBefore):
			why = fmt.Sprintf("key %s (%s, line %d) expired at %s", fp, s.Principal(), s.Line, s.ValidBefore.Format(time.RFC3339))
		default:
			return s, nil
		}
	}
	if why == "" {
		why = fmt.Sprintf("key %s is not an allowed signer", fp)
	}
	return Signer{}, errors.New(why)
}
