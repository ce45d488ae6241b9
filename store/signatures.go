package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Signatures of snapshots. The store keeps them as it is given them, bytes
// it does not interpret (package sign checks them): whoever attaches one
// checks it first. They are part of the snapshot: a backup holds them, a
// pull copies them, and removing the snapshot removes them.

// Bounds on what a snapshot carries.
const (
	// MaxSignatures bounds the signatures of one snapshot.
	MaxSignatures = 32
	// MaxSignatureLen bounds one signature's bytes: an armored SSHSIG of
	// an RSA 8192-bit key is under 3 KiB.
	MaxSignatureLen = 16 << 10
)

// ErrTooManySignatures: a snapshot already carries MaxSignatures.
var ErrTooManySignatures = fmt.Errorf("too many signatures: %w", ErrInvalid)

// AddSignature attaches sig to snapshot id, unless it carries it already
// (added is then false).
func (s *Store) AddSignature(id Ref, sig []byte) (added bool, err error) {
	if len(sig) == 0 || len(sig) > MaxSignatureLen {
		return false, fmt.Errorf("signature of %d bytes; 1 to %d: %w", len(sig), MaxSignatureLen, ErrInvalid)
	}
	key := signatureKey(id, Sum(sig))
	err = s.update(func(txn *badger.Txn) error {
		if _, err := snapshotIn(txn, id); err != nil {
			return err
		}
		if _, err := txn.Get(key); err == nil {
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		n := 0
		it := txn.NewIterator(badger.IteratorOptions{Prefix: refKey(prefixSignature, id)})
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		it.Close()
		if n >= MaxSignatures {
			return fmt.Errorf("%d signatures already: %w", n, ErrTooManySignatures)
		}
		added = true
		return txn.Set(key, append([]byte(nil), sig...))
	})
	if err != nil {
		return false, fmt.Errorf("sign %s: %w", id.Short(), err)
	}
	return added, s.Sync()
}

// Signatures returns the signatures snapshot id carries, oldest key first
// (in the order of their hashes, which is stable).
func (s *Store) Signatures(id Ref) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: refKey(prefixSignature, id), PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", id.Short(), err)
	}
	return out, nil
}

// deleteSignaturesIn removes snapshot id's signatures in txn.
func deleteSignaturesIn(txn *badger.Txn, id Ref) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: refKey(prefixSignature, id), PrefetchValues: false})
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
