package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
)

// testCA makes a CA and certificates it signs, as PEM files in dir.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vfs test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{dir: t.TempDir(), cert: cert, key: key}
	ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

func (ca *testCA) write(t *testing.T, name, kind string, der []byte) string {
	p := filepath.Join(ca.dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes a certificate for name (a server for 127.0.0.1, or a
// client) and its key, and returns their paths.
func (ca *testCA) issue(t *testing.T, name string, server bool) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return ca.write(t, name+".pem", "CERTIFICATE", der), ca.write(t, name+"-key.pem", "EC PRIVATE KEY", kder)
}

// etcd with TLS and client certificate authentication: members given the
// CA and a client certificate join and switch together; a node without a
// client certificate cannot join, and vfsd says so.
func TestClusterEtcdTLS(t *testing.T) {
	ca := newTestCA(t)
	serverCert, serverKey := ca.issue(t, "etcd", true)
	cfg := etcdConfig(t)
	for _, u := range []*[]url.URL{&cfg.ListenClientUrls, &cfg.AdvertiseClientUrls} {
		(*u)[0].Scheme = "https"
	}
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: serverCert, KeyFile: serverKey, TrustedCAFile: filepath.Join(ca.dir, "ca.pem"), ClientCertAuth: true}
	runEtcd(t, cfg)
	etcd := cfg.ListenClientUrls[0].String()
	var nodes []*daemon
	for _, name := range []string{"n1", "n2"} {
		cert, key := ca.issue(t, name, false)
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", name, "--etcd", etcd, "--peer-listen", freeAddr(t), "--cluster-lease", "2s",
			"--etcd-ca", filepath.Join(ca.dir, "ca.pem"), "--etcd-cert", cert, "--etcd-key", key))
	}
	v1 := nodes[0].importDir(t, writeSite(t, map[string][]byte{"index.html": []byte("over tls")}))
	nodes[0].ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	if b, err := os.ReadFile(filepath.Join(nodes[1].mnt, "current", "index.html")); err != nil || string(b) != "over tls" {
		t.Errorf("n2 serves %q %v", b, err)
	}
	// Without a client certificate etcd refuses the node.
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "mnt"), 0o755)
	cmd := exec.Command(filepath.Join(binDir, "vfsd"), "--store", filepath.Join(dir, "store"), "--mount", filepath.Join(dir, "mnt"),
		"--socket", filepath.Join(dir, "s.sock"), "--cluster", "web", "--node", "n3", "--etcd", etcd, "--peer-listen", freeAddr(t),
		"--etcd-ca", filepath.Join(ca.dir, "ca.pem"))
	done := make(chan []byte, 1)
	go func() { out, _ := cmd.CombinedOutput(); done <- out }()
	select {
	case out := <-done:
		if cmd.ProcessState.Success() || !strings.Contains(string(out), "did not answer within") {
			t.Errorf("vfsd without a client certificate: %v\n%s", cmd.ProcessState, out)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("vfsd without a client certificate neither joined nor gave up")
	}
}
