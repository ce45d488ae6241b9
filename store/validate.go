package store

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid: input that a store refuses to keep, whoever sends it (an
// importer, a client of the daemon, later a peer): a bad name, a symlink
// that leaves its snapshot, a path too long to serve, a bad label.
var ErrInvalid = errors.New("invalid")

// Limits every snapshot honours, so that the mount, export and web servers
// can reach each of its paths. Linux refuses names over 255 bytes and paths
// over 4,095; the limits below leave room for a mount point and the
// /snapshots/<id>/ prefix (about 90 bytes).
const (
	MaxNameLen   = 255
	MaxPathLen   = 3840
	MaxDepth     = 256
	MaxTargetLen = 1024
	// maxHops is how many symlinks one resolution may pass, as Linux's
	// limit of 40 before ELOOP.
	maxHops = 40
)

// Bounds on the free text the store keeps: a reason travels into every
// log line and list, a message and a source into every listing.
const (
	MaxTextLen = 4096
	MaxLabels  = 64
)

// CheckText checks a free-text field (a reason, a message, a source):
// valid UTF-8 of at most MaxTextLen bytes. Control characters are kept
// and quoted wherever text is printed.
func CheckText(what, s string) error {
	switch {
	case len(s) > MaxTextLen:
		return fmt.Errorf("%s of %d bytes, at most %d: %w", what, len(s), MaxTextLen, ErrInvalid)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8: %w", what, ErrInvalid)
	}
	return nil
}

// CheckInfo checks what a snapshot record says besides its tree: its
// labels, message and source.
func CheckInfo(info SnapshotInfo) error {
	if len(info.Labels) > MaxLabels {
		return fmt.Errorf("%d labels, at most %d: %w", len(info.Labels), MaxLabels, ErrInvalid)
	}
	for _, l := range info.Labels {
		if err := CheckLabel(l); err != nil {
			return fmt.Errorf("label: %w", err)
		}
	}
	if err := CheckText("message", info.Message); err != nil {
		return err
	}
	return CheckText("source", info.Source)
}

// MaxStatPathLen bounds a stat cache path (Badger keys: 65,000 bytes at
// most); Linux paths are at most 4,096.
const MaxStatPathLen = 8192

// CheckStatPath checks a source path a stat cache entry is kept under.
func CheckStatPath(p string) error {
	if len(p) > MaxStatPathLen {
		return fmt.Errorf("stat cache path of %d bytes, at most %d: %w", len(p), MaxStatPathLen, ErrInvalid)
	}
	return nil
}

// CheckName checks one entry name: non-empty, not . or .., no slash or NUL,
// at most MaxNameLen bytes, valid UTF-8 (names travel in JSON and URLs).
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name: %w", ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("name %q: %w", name, ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("name %.40q...: %d bytes, at most %d: %w", name, len(name), MaxNameLen, ErrInvalid)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name %q contains a slash or NUL: %w", name, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not valid UTF-8: %w", name, ErrInvalid)
	}
	return nil
}

// CheckLabel checks a label or a ref name: a name (it is one path component
// of the mount, /labels/<label>/ or /refs/<name>/), without control
// characters or spaces (it appears in logs and hook environments), and not
// starting with @ (which means a time) or - (which reads as a flag).
func CheckLabel(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "@") || strings.HasPrefix(name, "-") {
		return fmt.Errorf("name %q starts with %q: %w", name, name[:1], ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("name %q contains a space or control character: %w", name, ErrInvalid)
		}
	}
	return nil
}

// checkTarget checks a symlink target on its own; whether it stays inside
// its snapshot is CheckSnapshot's job, which knows where the link is.
func checkTarget(target string) error {
	switch {
	case target == "":
		return fmt.Errorf("empty symlink target: %w", ErrInvalid)
	case len(target) > MaxTargetLen:
		return fmt.Errorf("symlink target of %d bytes, at most %d: %w", len(target), MaxTargetLen, ErrInvalid)
	case strings.HasPrefix(target, "/"):
		return fmt.Errorf("symlink to %q: absolute targets leave the snapshot: %w", target, ErrInvalid)
	case strings.IndexByte(target, 0) >= 0 || !utf8.ValidString(target):
		return fmt.Errorf("symlink target %q has a NUL or is not UTF-8: %w", target, ErrInvalid)
	}
	return nil
}

// CheckTree checks every entry of one directory: names, kinds, targets, and
// that entries are in strictly increasing name order (Lookup's binary search
// relies on it, and it means no name appears twice). Modes need no check:
// only the permission bits are ever stored (setuid, setgid and sticky are
// dropped; docs/security.md).
func CheckTree(t *Tree) error {
	for i, e := range t.Entries {
		if err := CheckName(e.Name); err != nil {
			return err
		}
		switch e.Kind {
		case KindFile, KindDir:
			if e.Ref.IsZero() {
				return fmt.Errorf("%q: %s without a ref: %w", e.Name, e.Kind, ErrInvalid)
			}
		case KindSymlink:
			if err := checkTarget(e.Target); err != nil {
				return fmt.Errorf("%q: %w", e.Name, err)
			}
		default:
			return fmt.Errorf("%q: unknown kind %d: %w", e.Name, e.Kind, ErrInvalid)
		}
		if i > 0 && t.Entries[i-1].Name >= e.Name {
			return fmt.Errorf("%q: entries out of order or repeated: %w", e.Name, ErrInvalid)
		}
	}
	return nil
}
