# Build, test and benchmark vfs. `make help` lists the targets.
GO        ?= go
BIN       := bin
BENCH_DIR := $(CURDIR)/bench
# A real tree to import in benchmarks: four npm packages, about 9,000 files
# and 140 MB once unpacked.
BENCH_PKGS := swagger-ui-dist @mdi/svg mathjax typescript
EXAMPLE   ?= /tmp/vfs-example
# make install: where, and a staging root for packages.
PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: all build install deb test testdeps vet fuzz bench bench-tree bench-browse bench-scale bench-cluster example example-stop clean help

all: build

help:
	@echo "make build      build bin/vfsctl (and bin/vfsd)"
	@echo "make install    install vfsd, vfsctl, the systemd unit, completions and man pages (PREFIX, DESTDIR)"
	@echo "make deb        build bin/vfs_VERSION_amd64.deb with nfpm (VFS_VERSION, default from git)"
	@echo "make test       gofmt check, go vet, every test with -race, then make fuzz"
	@echo "make fuzz       each fuzz test for FUZZTIME inputs (10000x)"
	@echo "make example    start vfsd on docs/example-site under $(EXAMPLE) (root, fuse3)"
	@echo "make example-stop  stop that vfsd"
	@echo "make bench      benchmarks side by side with cp, ostree, restic (needs npm)"
	@echo "make bench-browse  find, reads and RSS over a 100,000-file snapshot by vfsd --max-nodes (root)"
	@echo "make bench-scale   a million files: import, activation, browsing and RSS against cp, find, restic (root, ~15 min)"
	@echo "make bench-cluster releases to 3, 10 and 30 nodes with an embedded etcd: phases, flip spread, etcd requests, bytes per changed byte (root, ~1 min)"

build:
	$(GO) build -buildvcs=auto -o $(BIN)/ ./cmd/...

# The unit names /usr/local/bin/vfsd; with another PREFIX it is rewritten.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)/etc/systemd/system \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(BIN)/vfsd $(BIN)/vfsctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' docs/examples/vfsd.service > $(DESTDIR)/etc/systemd/system/vfsd.service
	$(BIN)/vfsctl gen-man $(DESTDIR)$(PREFIX)/share/man/man1
	$(BIN)/vfsctl completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/vfsctl
	$(BIN)/vfsctl completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_vfsctl
	$(BIN)/vfsctl completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/vfsctl.fish

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# What the tests need besides the apt packages of .ci/run: the browser
# test's Vite app (npm, pinned by its lock file).
testdeps:
	@test -d integration/testdata/vite-app/node_modules || \
		npm ci --prefix integration/testdata/vite-app --no-audit --no-fund --loglevel=error

# VFS_REQUIRE_ALL: a test whose prerequisite is missing fails instead of
# skipping, so that "ok" means everything ran.
test: vet testdeps
	VFS_REQUIRE_ALL=1 $(GO) test -race -count=1 ./...
	$(MAKE) fuzz

# Every decoder of bytes from outside, and the tree checks, fuzzed
# briefly (FUZZTIME each); their corpora are in testdata/fuzz, and plain
# go test runs those. A failure writes the input to testdata/fuzz.
# FUZZTIME counts inputs, not seconds: with a duration, a loaded machine
# can spend it all gathering the corpus's baseline coverage, and go test
# then fails with "context deadline exceeded" (seen in CI).
FUZZTIME ?= 10000x
FUZZ     := ctl:FuzzRecords ctl:FuzzChunkStream ctl:FuzzJSONBody \
	store:FuzzCheckSnapshot store:FuzzDecodeTree store:FuzzDecodeFile store:FuzzDecodeStat

fuzz:
	@for t in $(FUZZ); do \
		echo "fuzz $${t#*:} ($${t%%:*}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ >/tmp/vfs-fuzz.log 2>&1 || { cat /tmp/vfs-fuzz.log; exit 1; }; \
		tail -n 1 /tmp/vfs-fuzz.log; \
	done

# The Debian package: make install into build/deb, then nfpm (a Go tool,
# fetched by go run at the pinned version) packs it per docs/examples/nfpm.yaml.
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
VFS_VERSION ?= $(shell git describe --tags --always 2>/dev/null | sed 's/^v//; s/^\([0-9a-f]\{7,\}\)$$/0.0.0+g\1/' || echo 0.0.0)

deb:
	rm -rf build/deb
	$(MAKE) install DESTDIR=$(CURDIR)/build/deb PREFIX=/usr
	VFS_VERSION=$(VFS_VERSION) GOFLAGS= $(GO) run $(NFPM) package --packager deb --config docs/examples/nfpm.yaml --target $(BIN)/

bench-tree: $(BENCH_DIR)/tree/node_modules

$(BENCH_DIR)/tree/node_modules:
	mkdir -p $(BENCH_DIR)/tree
	cd $(BENCH_DIR)/tree && npm install --no-audit --no-fund --ignore-scripts --loglevel=error $(BENCH_PKGS)

bench: build bench-tree
	VFS_BENCH_TREE=$(BENCH_DIR)/tree/node_modules $(GO) test -run '^$$' -bench . -benchtime 1x ./integration/ ./store/ ./precompress/
	$(GO) test -run '^$$' -bench ActivationPolicy -benchtime 2000x ./ctl/

bench-browse: build
	integration/bench_browse.sh

bench-scale: build
	integration/bench_scale.sh

bench-cluster: build
	VFS_BENCH_CLUSTER=1 $(GO) test -run '^$$' -bench Cluster -benchtime 1x -timeout 30m ./integration/

example: build
	EXAMPLE=$(EXAMPLE) BIN=$(BIN) docs/example.sh

example-stop:
	-kill $$(cat $(EXAMPLE)/vfsd.pid) && while kill -0 $$(cat $(EXAMPLE)/vfsd.pid) 2>/dev/null; do sleep 0.1; done

clean:
	rm -rf $(BIN) $(BENCH_DIR) build
