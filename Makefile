# tend — see README.md. `make test` is what CI runs (.ci/run).
CARGO      ?= cargo
MUSL       := x86_64-unknown-linux-musl
STATIC_BIN := target/$(MUSL)/release/tend
FUZZ_SECONDS ?= 60

.PHONY: all build static layout install test check lint man-lint unit bench fuzz stress miri deps deps-bench clean example example-init

all: build

deps:
	./scripts/deps.sh test

deps-bench:
	./scripts/deps.sh bench

build:
	$(CARGO) build --release

# The static, stripped musl binary; fails unless `file` calls it statically linked.
# .cargo/config.toml links it with rust-lld and scripts/layout.ld (hot paths first).
static:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)
	$(CARGO) build --release --target $(MUSL)
	@file -L $(STATIC_BIN) | tee /dev/stderr | grep -Eq 'static(ally linked|-pie linked)'
	@ls -l $(STATIC_BIN) | awk '{ printf "static binary: %d bytes\n", $$5 }'

# Regenerate scripts/layout.ld from traces of the hot paths (under valgrind; see the
# script). Commit the result: the build itself only reads it.
layout:
	./scripts/deps.sh layout
	./scripts/layout-profile.sh

# Installs the static binary, the man pages and the shell completions under
# $(DESTDIR)$(PREFIX). BIN is the binary to install: `make static` builds it if it is
# missing, but an existing one is installed as it is (no rebuild, so `sudo make install`
# after `make static` needs no toolchain as root).
PREFIX  ?= /usr/local
DESTDIR ?=
BIN     ?= $(STATIC_BIN)
INSTALL ?= install

$(STATIC_BIN):
	$(MAKE) static

install: $(BIN)
	$(INSTALL) -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	$(INSTALL) -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/tend
	$(INSTALL) -m 644 man/tend.1 $(DESTDIR)$(PREFIX)/share/man/man1/tend.1
	$(INSTALL) -m 644 man/tend.toml.5 $(DESTDIR)$(PREFIX)/share/man/man5/tend.toml.5
	$(INSTALL) -m 644 man/tend-protocol.7 $(DESTDIR)$(PREFIX)/share/man/man7/tend-protocol.7
	$(INSTALL) -m 644 completions/tend.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tend
	$(INSTALL) -m 644 completions/_tend $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_tend
	$(INSTALL) -m 644 completions/tend.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tend.fish

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

man-lint:
	@out=$$(mandoc -Tlint -W warning man/*.[1-9] 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; echo "mandoc -Tlint: clean"

unit:
	TEND_STATIC_BIN=$(CURDIR)/$(STATIC_BIN) $(CARGO) test

# Everything CI checks. The static binary is built first: the container tests run it.
test: deps static lint man-lint unit

bench: deps-bench static
	./bench/run.sh $(STATIC_BIN)

# cargo-fuzz (nightly) on every fuzz/fuzz_targets/*.rs for FUZZ_SECONDS each; new inputs go
# to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET (both replayed on stable by
# `cargo test --test proto_corpus`). Every target runs; the make fails if any found something.
FUZZ_TARGETS = $(sort $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs))))
FUZZ_FLAGS   = -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=512 -rss_limit_mb=1024

fuzz:
	./scripts/deps.sh fuzz
	@[ -n "$(FUZZ_TARGETS)" ] || { echo "fuzz: no targets in fuzz/fuzz_targets" >&2; exit 1; }
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t: $(FUZZ_SECONDS)s"; \
	  $(CARGO) +nightly fuzz run $$t fuzz/corpus/$$t -- $(FUZZ_FLAGS) || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (inputs in fuzz/artifacts/)" >&2; exit 1; fi

# The long hardening runs (README, "What tend survives"): the load and kill-storm tests
# for STRESS_SECONDS each instead of the few seconds `make test` gives them, then the
# daemon under valgrind for as long, under load (scripts/valgrind-daemon.sh: nothing
# lost at exit, no heap growth). Needs valgrind (deps.sh layout installs it).
STRESS_SECONDS ?= 60
STRESS_TESTS    = load_clients fault_kill_storm

stress:
	./scripts/deps.sh layout
	$(CARGO) build
	TEND_STRESS_SECONDS=$(STRESS_SECONDS) $(CARGO) test --no-fail-fast $(addprefix --test ,$(STRESS_TESTS)) -- --nocapture --test-threads=1
	./scripts/valgrind-daemon.sh $(STRESS_SECONDS) target/debug/tend

# Miri (nightly) on the pure modules: the frame codec and wire types, the service state
# machine, the output ring buffer. Installs the miri component if it is missing.
MIRI_FILTERS = proto::frame::tests proto::msg::tests daemon::service::tests daemon::output::tests

miri:
	@rustup +nightly component list --installed | grep -q '^miri' || rustup component add --toolchain nightly miri rust-src
	$(CARGO) +nightly miri test --lib -- $(MIRI_FILTERS)

# The README's quick start: the bundled example services under `tend run`
# (Ctrl-C stops them all and tend exits 0).
example: build
	./target/release/tend run -c examples/tend.toml

# The tini-compatible init on a one-process example.
example-init: build
	@./target/release/tend init -s -- ./examples/hello.sh; echo "tend exited with status $$? (the child's)"


clean:
	$(CARGO) clean
