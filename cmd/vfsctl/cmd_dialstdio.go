package main

import (
	"fmt"
	"net"

	"github.com/vfs-project/vfs/ctl"
	"github.com/vfs-project/vfs/remote"
)

func dialStdioCommand(e *env) *command {
	return &command{
		name: "dial-stdio", nargs: [2]int{0, 0}, noJSON: true,
		summary: "bridge standard input and output to vfsd's socket (what vfsctl --host runs over ssh)",
		run: func(e *env, _ []string) error {
			socket, _, err := e.target()
			if err == nil && socket == "" {
				err = fmt.Errorf("dial-stdio: no vfsd socket here (give --socket, or start vfsd): %w", ctl.ErrUnavailable)
			}
			var conn net.Conn
			if err == nil {
				conn, err = net.Dial("unix", socket)
				if err != nil {
					err = ctl.DialError(socket, err)
				}
			}
			if _, werr := fmt.Fprint(e.stdout, remote.Banner(ctl.BuildVersion, ctl.KindOf(err).Name, err)); werr != nil && err == nil {
				err = werr
			}
			if err != nil {
				if conn != nil {
					conn.Close()
				}
				return err
			}
			return remote.Bridge(e.stdin, e.stdout, conn)
		},
	}
}
