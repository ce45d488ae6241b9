package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"
	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/sign"
	"github.com/vfs-project/vfs/store"
)

func signCommand(e *env) *command {
	var key, sigFile string
	return &command{
		name: "snapshot sign", args: "ID|LABEL", nargs: [2]int{1, 1},
		summary: "sign a snapshot with an ssh key, or attach a signature made elsewhere",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&key, "key", "", "sign with this key: a private key file, or a public key (.pub) whose private half is in the ssh-agent at SSH_AUTH_SOCK")
			fs.StringVar(&sigFile, "signature", "", "attach this armored signature instead, made elsewhere: printf 'vfs-snapshot %s\\n' ID | ssh-keygen -Y sign -n vfs -f KEY (- reads standard input)")
		},
		run: func(e *env, args []string) error {
			if (key == "") == (sigFile == "") {
				return usageError{"snapshot sign: give --key or --signature"}
			}
			api, id, err := e.resolve(args[0])
			if err != nil {
				return err
			}
			var armored []byte
			if key != "" {
				if armored, err = signWith(key, id); err != nil {
					return err
				}
			} else if armored, err = readSignature(e, sigFile); err != nil {
				return err
			}
			info, err := api.AddSignature(e.ctx, id, armored)
			if err != nil {
				return err
			}
			return e.printSigned(id, info)
		},
	}
}

// signWith signs snapshot id with the key at path (sign.LoadSigner).
func signWith(path string, id store.Ref) ([]byte, error) {
	s, done, err := sign.LoadSigner(path)
	if err != nil {
		return nil, err
	}
	defer done()
	return sign.Sign(id, s)
}

func readSignature(e *env, name string) ([]byte, error) {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("--signature: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, store.MaxSignatureLen+1))
	if err != nil {
		return nil, fmt.Errorf("--signature: %w", err)
	}
	return b, nil
}

// printSigned says what a signature attached to id stands for.
func (e *env) printSigned(id store.Ref, info ctl.SignatureInfo) error {
	if e.json {
		return e.printJSON(info)
	}
	switch {
	case info.Principal != "":
		e.note("signed %s with %s: valid for %s", id.Short(), info.Key, info.Principal)
	case info.Problem != "":
		e.note("signed %s with %s; vfsd's allowed signers do not accept it: %s", id.Short(), info.Key, info.Problem)
	default:
		e.note("signed %s with %s", id.Short(), info.Key)
	}
	return nil
}
