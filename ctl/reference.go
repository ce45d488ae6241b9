package ctl

import (
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"time"

	"github.com/vfs-project/vfs/snapshot"
	"github.com/vfs-project/vfs/store"
)

// Reference renders the endpoint and error-kind tables as markdown: the
// generated part of docs/api.md, which a test keeps current.
func Reference() string {
	var b strings.Builder
	b.WriteString("### Error kinds\n\n| kind | HTTP status | vfsctl exit | meaning |\n| --- | --- | --- | --- |\n")
	for _, k := range Kinds {
		fmt.Fprintf(&b, "| `%s` | %d | %d | %s |\n", k.Name, k.Status, k.Exit, k.Doc)
	}
	b.WriteString("\n### Endpoints\n\n| endpoint | what | peer listener |\n| --- | --- | --- |\n")
	for _, e := range endpoints {
		peer := ""
		if e.Peer {
			peer = "yes"
		}
		fmt.Fprintf(&b, "| [`%s %s`](#%s) | %s | %s |\n", e.Method, e.Path, anchor(e), e.Name, peer)
	}
	for _, e := range endpoints {
		fmt.Fprintf(&b, "\n#### %s %s\n\n%s %s\n\n", e.Method, e.Path, e.Name+".", e.Doc)
		if params := describeParams(e.Req); params != "" {
			fmt.Fprintf(&b, "- Parameters: %s\n", params)
		}
		switch {
		case e.Req != nil && e.Method != "GET" && hasBody(e.Req) && e.ReqBody != "":
			fmt.Fprintf(&b, "- Request body: `%s`, %s\n", describe(e.Req, true), e.ReqBody)
		case e.ReqBody != "":
			fmt.Fprintf(&b, "- Request body: %s\n", e.ReqBody)
		case e.Req != nil && e.Method != "GET" && hasBody(e.Req):
			fmt.Fprintf(&b, "- Request body: `%s`\n", describe(e.Req, true))
		}
		switch {
		case e.RespBody != "":
			fmt.Fprintf(&b, "- Response: %s\n", e.RespBody)
		case e.Resp != nil:
			fmt.Fprintf(&b, "- Response: `%s`\n", describe(e.Resp, false))
		default:
			b.WriteString("- Response: `{}`\n")
		}
		if e.Progress != nil {
			fmt.Fprintf(&b, "- Streams progress events: `%s`\n", describe(e.Progress, false))
		}
		fmt.Fprintf(&b, "- Deadline: %s\n", formatDuration(e.Timeout))
	}
	return b.String()
}

func anchor(e *endpoint) string {
	s := strings.ToLower(e.Method + " " + e.Path)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func formatDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// describeParams lists a request's path and query parameters.
func describeParams(t reflect.Type) string {
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		for _, where := range []string{"path", "query"} {
			if name := f.Tag.Get(where); name != "" {
				out = append(out, fmt.Sprintf("`%s` (%s, %s)", name, where, describe(f.Type, true)))
			}
		}
	}
	return strings.Join(out, ", ")
}

var (
	refType      = reflect.TypeFor[store.Ref]()
	timeType     = reflect.TypeFor[time.Time]()
	kindType     = reflect.TypeFor[store.Kind]()
	modeType     = reflect.TypeFor[fs.FileMode]()
	policyType   = reflect.TypeFor[snapshot.Policy]()
	objKindType  = reflect.TypeFor[ObjectKind]()
	durationType = reflect.TypeFor[time.Duration]()
)

// describe renders a type's JSON shape. Fields taken from the URL are
// left out of a request's body.
func describe(t reflect.Type, request bool) string {
	switch t {
	case refType:
		return "hash"
	case timeType:
		return "time"
	case kindType:
		return `"file"|"dir"|"symlink"`
	case objKindType:
		return `"chunk"|"tree"|"file"|"variants"`
	case modeType:
		return "mode"
	case durationType:
		return "duration"
	case policyType:
		return `{"keep_last": int, "keep_within": duration}`
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem(), request)
	case reflect.Slice:
		return "[" + describe(t.Elem(), request) + "]"
	case reflect.Map:
		return "{NAME: " + describe(t.Elem(), request) + "}"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Uint32, reflect.Uint8:
		return "int"
	case reflect.Struct:
		var fields []string
		structFields(t, request, &fields)
		return "{" + strings.Join(fields, ", ") + "}"
	}
	return t.String()
}

func structFields(t reflect.Type, request bool, out *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" || (request && (f.Tag.Get("path") != "" || f.Tag.Get("query") != "")) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			structFields(f.Type, request, out)
			continue
		}
		if name == "" {
			name = f.Name
		}
		*out = append(*out, fmt.Sprintf("%q: %s", name, describe(f.Type, request)))
	}
}
