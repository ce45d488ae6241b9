package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const viteApp = "testdata/vite-app"

// buildVite builds the test app with its version baked in, into a new
// directory.
func buildVite(t *testing.T, version string) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(filepath.Join("node_modules", ".bin", "vite"), "build", "--logLevel", "warn", "--outDir", out)
	cmd.Dir = viteApp
	cmd.Env = append(os.Environ(), "APP_VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vite build %s: %v\n%s", version, err, b)
	}
	return out
}

// A real browser keeps a page of v1 open across the deploy of v2, then
// triggers the page's lazy import: v1's chunk must load and run with no
// failed request; a reload shows v2.
func TestBrowserLazyImportAcrossDeploy(t *testing.T) {
	need(t, "chromium")
	if _, err := os.Stat(filepath.Join(viteApp, "node_modules", ".bin", "vite")); err != nil {
		missing(t, "vite is not installed: npm ci --prefix integration/"+viteApp)
	}
	v1, v2 := buildVite(t, "v1"), buildVite(t, "v2")
	d := startDaemon(t, "--grace", "10m")
	id1, id2 := d.importDir(t, v1), d.importDir(t, v2)
	d.ctl(t, "-q", "activate", id1)
	srv := startNginx(t, d.mnt, filepath.Join(d.mnt, "current"))

	ctx, cancel := browser(t)
	defer cancel()
	var mu sync.Mutex
	var failed []string
	chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 {
				failed = append(failed, fmt.Sprintf("%d %s", e.Response.Status, e.Response.URL))
			}
		case *network.EventLoadingFailed:
			failed = append(failed, "failed: "+e.ErrorText)
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/")); err != nil {
		t.Fatal(err)
	}
	version, err := chromedp.Run(ctx, chromedp.Text("#version", chromedp.NodeVisible))
	if err != nil {
		t.Fatal(err)
	}
	if version != "page v1" {
		t.Fatalf("before the deploy the page says %q", version)
	}
	d.ctl(t, "-q", "activate", id2) // deploy while the page is open
	if got := clickAndRead(t, ctx); got != "lazy chunk of v1" {
		t.Fatalf("lazy import after the deploy: %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	if version, err = chromedp.Run(ctx, chromedp.Text("#version", chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	if version != "page v2" {
		t.Fatalf("after a reload the page says %q", version)
	}
	if got := clickAndRead(t, ctx); got != "lazy chunk of v2" {
		t.Fatalf("lazy import after the reload: %q", got)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80)); err == nil && os.Getenv("VFS_SCREENSHOT") != "" {
		os.WriteFile(os.Getenv("VFS_SCREENSHOT"), shot, 0o644)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("requests failed: %v", failed)
	}
}

// clickAndRead clicks the button that imports the lazy chunk and returns
// what the chunk wrote.
func clickAndRead(t *testing.T, ctx context.Context) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click("#load", chromedp.NodeVisible)); err != nil {
		t.Fatal(err)
	}
	var text string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if text, err = chromedp.Run(ctx, chromedp.TextContent("#lazy")); err != nil {
			t.Fatal(err)
		}
		if text != "" {
			return text
		}
	}
	return text
}

// browser starts headless Debian chromium. The flags keep it off the
// network beyond loopback: this machine has no other.
func browser(t *testing.T) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() { cancelTimeout(); cancelCtx(); cancelAlloc() }
}

// A real browser loads a page whose bundle the generated nginx
// configuration serves precompressed (the .br and .gz variants vfsd made
// at import; the build ships none): the bundle arrives as br and runs.
func TestBrowserLoadsPrecompressedBundle(t *testing.T) {
	need(t, "chromium")
	if _, err := os.Stat(filepath.Join(viteApp, "node_modules", ".bin", "vite")); err != nil {
		missing(t, "vite is not installed: npm ci --prefix integration/"+viteApp)
	}
	site := buildVite(t, "v1")
	bundles, _ := filepath.Glob(filepath.Join(site, "assets", "*.js"))
	if len(bundles) == 0 {
		t.Fatal("the build has no bundle")
	}
	// No siblings shipped: vfsd makes app.js.br and app.js.gz at import.
	d := startDaemon(t)
	d.importDir(t, site, "--activate")
	url := startGeneratedNginx(t, d)

	ctx, cancel := browser(t)
	defer cancel()
	var mu sync.Mutex
	encodings := map[string]string{}
	chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventResponseReceived); ok && strings.Contains(e.Response.URL, "/assets/") {
			mu.Lock()
			defer mu.Unlock()
			enc, _ := e.Response.Headers["Content-Encoding"].(string)
			if enc == "" {
				enc, _ = e.Response.Headers["content-encoding"].(string)
			}
			encodings[e.Response.URL] = fmt.Sprintf("%d %s", e.Response.Status, enc)
		}
	})
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	version, err := chromedp.Run(ctx, chromedp.Text("#version", chromedp.NodeVisible))
	if err != nil || version != "page v1" {
		t.Fatalf("the page says %q (%v): its bundle did not run", version, err)
	}
	mu.Lock()
	defer mu.Unlock()
	br := 0
	for u, e := range encodings {
		t.Logf("%s: %s", u, e)
		if e == "200 br" {
			br++
		}
	}
	if br == 0 {
		t.Errorf("no bundle arrived as br: %v", encodings)
	}
}
