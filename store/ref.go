package store

import (
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// RefSize is the length of a Ref in bytes.
const RefSize = 32

// ShortLen is how many hex characters listings show of a Ref.
const ShortLen = 12

// A Ref is the BLAKE3-256 hash of an object's content. It is comparable and so
// usable as a map key.
type Ref [RefSize]byte

// Sum returns the Ref of b.
func Sum(b []byte) Ref { return Ref(blake3.Sum256(b)) }

// ParseRef parses a full 64-character lower- or upper-case hex Ref.
func ParseRef(s string) (Ref, error) {
	var r Ref
	if len(s) != 2*RefSize {
		return r, fmt.Errorf("parse ref %q: want %d hex characters, got %d", s, 2*RefSize, len(s))
	}
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return r, fmt.Errorf("parse ref %q: %w", s, err)
	}
	return r, nil
}

// String returns the full lower-case hex form.
func (r Ref) String() string { return hex.EncodeToString(r[:]) }

// Short returns the first ShortLen hex characters, as listings show them.
func (r Ref) Short() string { return r.String()[:ShortLen] }

// IsZero reports whether r is the zero value (no ref).
func (r Ref) IsZero() bool { return r == Ref{} }

// MarshalText encodes r as hex, for JSON records and URLs; the zero Ref
// (none: the "from" of a first activation) as the empty string. Not
// MarshalJSON: encoding/json re-scans what a JSON marshaler returns, which
// cost an import of 100,000 files through the socket a sixth of the
// client's CPU.
func (r Ref) MarshalText() ([]byte, error) {
	if r.IsZero() {
		return nil, nil
	}
	return []byte(r.String()), nil
}

// UnmarshalText parses hex; an empty string is the zero Ref.
func (r *Ref) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = Ref{}
		return nil
	}
	v, err := ParseRef(string(b))
	*r = v
	return err
}
