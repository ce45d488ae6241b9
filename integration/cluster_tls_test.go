package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
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

// The production setup of docs/cluster.md: members with certificates that
// docs/examples/peer-certs.sh made with openssl talk mutual TLS on their
// peer listeners. A release with a 0600 file reaches every member (they
// present certificates); a client without one is refused at the
// handshake, and plain HTTP gets nothing.
func TestClusterPeerTLS(t *testing.T) {
	need(t, "openssl")
	etcd, _ := startEtcd(t)
	certs := t.TempDir()
	sh(t, nil, "sh", "../docs/examples/peer-certs.sh", certs, "n1=127.0.0.1", "n2=127.0.0.1", "n3=127.0.0.1")
	var nodes []*daemon
	var peers []string
	for _, name := range []string{"n1", "n2", "n3"} {
		peer := freeAddr(t)
		peers = append(peers, peer)
		nodes = append(nodes, startDaemon(t, "--cluster", "web", "--node", name, "--etcd", etcd, "--peer-listen", peer, "--cluster-lease", "2s",
			"--peer-tls-ca", filepath.Join(certs, "ca.pem"), "--peer-tls-cert", filepath.Join(certs, name+".pem"), "--peer-tls-key", filepath.Join(certs, name+"-key.pem")))
	}
	site := writeSite(t, map[string][]byte{"index.html": []byte("over mutual tls")})
	if err := os.WriteFile(filepath.Join(site, "deploy.env"), []byte("TOKEN=hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := nodes[0].importDir(t, site)
	nodes[0].ctl(t, "-q", "activate", v1, "--cluster", "--wait", "60s")
	for _, n := range nodes[1:] {
		if b, err := os.ReadFile(filepath.Join(n.mnt, "current", "deploy.env")); err != nil || string(b) != "TOKEN=hunter2" {
			t.Errorf("a member serves the 0600 file as %q %v", b, err)
		}
	}
	// No certificate, or no TLS at all: nothing.
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(certs, "ca.pem"))
	pool.AppendCertsFromPEM(caPEM)
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if resp, err := anon.Get("https://" + peers[0] + "/v1/version"); err == nil {
		resp.Body.Close()
		t.Errorf("a client without a certificate got %s", resp.Status)
	} else {
		t.Logf("without a certificate: %v", err)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + peers[0] + "/v1/version"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP was answered")
		}
	}
	// vfsctl snapshot pull, as a member.
	n2 := nodes[1]
	out := n2.ctl(t, "--json", "snapshot", "pull", peers[0], v1, "--peer-tls-ca", filepath.Join(certs, "ca.pem"),
		"--peer-tls-cert", filepath.Join(certs, "n2.pem"), "--peer-tls-key", filepath.Join(certs, "n2-key.pem"))
	if !strings.Contains(out, v1) {
		t.Errorf("vfsctl snapshot pull over mutual TLS: %s", out)
	}
}
