package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// A webServer is a real nginx or Apache serving a vfs mount on 127.0.0.1.
type webServer struct {
	name string
	url  string
}

// nginxHTTP is the start of an nginx configuration of a test's own: the
// process in the test's directory, and the http block's settings up to its
// server blocks.
const nginxHTTP = `daemon off;
worker_processes 2;
user www-data;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
`

const nginxConf = nginxHTTP + `    server {
        listen 127.0.0.1:{{.Port}};
        root {{.Root}};
        # Entries: browsers revalidate every time (cheap: 304 while unchanged).
        add_header Cache-Control "no-cache";
        # Hashed assets (Vite puts only those in /assets/) and /a/ never change.
        location /assets/ {
            add_header Cache-Control "public, max-age=31536000, immutable";
        }
        location /a/ {
            root {{.Mount}};
            add_header Cache-Control "public, max-age=31536000, immutable";
        }
        location /snapshots/ { root {{.Mount}}; }
    }
}
`

// apacheConf is the server around the virtual host that `vfsctl config
// apache` generates (written to vhost.conf by startApache).
const apacheConf = `ServerRoot {{.Dir}}
ServerName 127.0.0.1
Listen 127.0.0.1:{{.Port}}
PidFile {{.Dir}}/httpd.pid
ErrorLog {{.Dir}}/error.log
DefaultRuntimeDir {{.Dir}}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
LoadModule unique_id_module /usr/lib/apache2/modules/mod_unique_id.so
User www-data
Group www-data
TypesConfig /etc/mime.types
Include {{.Dir}}/vhost.conf
`

type serverConf struct {
	Dir, Root, Mount string
	Port             int
}

// startNginx serves root (usually <mount>/current) with /a/ and
// /snapshots/ from mount.
func startNginx(t testing.TB, mount, root string) webServer {
	need(t, "nginx")
	return startServer(t, "nginx", nginxConf, mount, root, func(conf string, c serverConf) *exec.Cmd {
		return exec.Command("nginx", "-c", conf, "-p", c.Dir)
	})
}

// startApache serves mount with the virtual host vfsctl generates, with
// /snapshots/ exposed as nginxConf exposes it; it always serves
// <mount>/current.
func startApache(t testing.TB, mount, _ string) webServer {
	return startApacheWith(t, mount, "--expose-snapshots")
}

// startApacheWith passes extra flags to `vfsctl config apache`.
func startApacheWith(t testing.TB, mount string, flags ...string) webServer {
	need(t, "apache2")
	return startServer(t, "apache", apacheConf, mount, "", func(conf string, c serverConf) *exec.Cmd {
		args := append([]string{"config", "apache", "--mount", c.Mount, "--listen", fmt.Sprintf("127.0.0.1:%d", c.Port)}, flags...)
		vhost, err := exec.Command(filepath.Join(binDir, "vfsctl"), args...).Output()
		if err != nil {
			t.Fatalf("vfsctl config apache: %v", err)
		}
		os.WriteFile(filepath.Join(c.Dir, "vhost.conf"), vhost, 0o644)
		return exec.Command("apache2", "-f", conf, "-DFOREGROUND")
	})
}

// startServer writes the configuration from tmpl, lets command prepare
// anything else and say how to run the server, and waits for it to listen.
func startServer(t testing.TB, name, tmpl, mount, root string, command func(conf string, c serverConf) *exec.Cmd, port ...int) webServer {
	t.Helper()
	c := serverConf{Dir: t.TempDir(), Root: root, Mount: mount, Port: freePort(t)}
	if len(port) > 0 { // the configuration names it already
		c.Port = port[0]
	}
	conf := filepath.Join(c.Dir, name+".conf")
	f, err := os.Create(conf)
	if err != nil {
		t.Fatal(err)
	}
	template.Must(template.New(name).Parse(tmpl)).Execute(f, c)
	f.Close()
	cmd := command(conf, c)
	out, _ := os.Create(filepath.Join(c.Dir, "stdout"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", c.Port)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(c.Dir, "error.log"))
			so, _ := os.ReadFile(filepath.Join(c.Dir, "stdout"))
			t.Fatalf("%s did not start listening on %s:\n%s\n%s", name, addr, log, so)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return webServer{name: name, url: "http://" + addr}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startGeneratedCaddy runs Caddy (Debian's caddy package) with the site
// blocks `vfsctl config caddy` prints for this mount, under global options
// of the test's own (no admin endpoint, no automatic HTTPS), and returns
// its URL.
func startGeneratedCaddy(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	need(t, "caddy")
	port := freePort(t)
	gen := d.ctl(t, append([]string{"config", "caddy", "--mount", d.mnt, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, args...)...)
	s := startServer(t, "caddy", "{\n\tadmin off\n\tauto_https off\n}\n"+strings.ReplaceAll(gen, "{{", "{{`{{`}}"), d.mnt, "", func(conf string, c serverConf) *exec.Cmd {
		cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+c.Dir, "XDG_DATA_HOME="+c.Dir, "XDG_CONFIG_HOME="+c.Dir)
		return cmd
	}, port)
	return s.url
}
