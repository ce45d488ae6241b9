package sign

import (
	"github.com/vfs-project/vfs/store"
)

// Attach checks armored as a signature of snapshot id (Parse) and attaches
// it to the snapshot in st. added is false when the snapshot carried it
// already; what fails the check is never attached.
func Attach(st *store.Store, id store.Ref, armored []byte) (sig *Signature, added bool, err error) {
	if sig, err = Parse(id, armored); err != nil {
		return nil, false, err
	}
	added, err = st.AddSignature(id, sig.Armored)
	return sig, added, err
}
