package ctltest

import (
	"net"
	"net/http"
	"testing"
)

// ServePeer serves h over plain HTTP on a loopback port until the test
// ends and returns its address: a peer of the tests' own making (a
// hostile one, or a proxy that rewrites a real one's answers).
func ServePeer(t testing.TB, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
