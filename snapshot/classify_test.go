package snapshot

import "testing"

func TestClassify(t *testing.T) {
	def := Classes{}
	custom := Classes{Include: []string{"fonts/**", "*.woff2"}, Exclude: []string{"sw-*.js", "embed/widget.*.js"}}
	cases := []struct {
		c    Classes
		path string
		want Class
	}{
		{def, "/index.html", Entry},
		{def, "assets/index-BxK3f9aQ.js", Asset},         // Vite
		{def, "assets/index-BxKqfLaQ.js", Asset},         // Vite, no digit
		{def, "static/js/main.3f2a1b9c.chunk.js", Asset}, // webpack / CRA
		{def, "chunk-vendors.12345678.js", Asset},
		{def, "_next/static/chunks/pages/app.js", Asset}, // Next.js
		{def, "_next/static/abc/_buildManifest.js", Asset},
		{def, "assets/page-3f2a1b9c.html", Entry}, // HTML is always an entry
		{def, "robots.txt", Entry},
		{def, "favicon.ico", Entry},
		{def, "jquery-3.6.0.min.js", Entry},
		{def, "logo-2024.png", Entry},
		{def, "vendors.js", Entry},
		{def, "MyComponent.js", Entry},
		{def, "service-worker.js", Entry},
		{custom, "fonts/inter.woff", Asset},
		{custom, "x/y/inter.woff2", Asset},
		{custom, "sw-3f2a1b9c.js", Entry}, // excluded though hashed
		{custom, "embed/widget.3f2a1b9c.js", Entry},
		{custom, "assets/app-3f2a1b9c.js", Asset},
	}
	for _, c := range cases {
		if got := c.c.Classify(c.path); got != c.want {
			t.Errorf("Classify(%q) with %+v = %s, want %s", c.path, c.c, got, c.want)
		}
	}
	if err := (Classes{Include: []string{"[bad"}}).Validate(); err == nil {
		t.Error("bad pattern accepted")
	}
}
