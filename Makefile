# One entry point for every package: install, build, test, bench, demo.
# `make test` is what CI runs (.ci/run): it installs what it needs itself.
SHELL := /bin/bash
PACKAGES := opskit greyprint guestrouter denul

.PHONY: all install deps deps-test deps-demo deps-bench build typecheck lint unit test bench demo clean

all: build

# Debian packages, one list per purpose (scripts/ensure-debs.sh): a production host gets only
# what the products run; tests, the demo and the benchmarks add the servers they drive.
deps:
	@bash scripts/ensure-debs.sh runtime
deps-test:
	@bash scripts/ensure-debs.sh runtime test
deps-demo:
	@bash scripts/ensure-debs.sh runtime demo
deps-bench:
	@bash scripts/ensure-debs.sh runtime bench

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

install: deps node_modules build

build: node_modules
	npx tsc -b $(addprefix packages/,$(PACKAGES))
	node packages/denul/scripts/bundle.mjs
	node packages/denul/scripts/build-native.mjs
	node scripts/build-native.mjs packages/guestrouter neigh "the meta data server reads /proc/net/arp instead of asking netlink"

typecheck: node_modules
	@for p in $(PACKAGES); do npx tsc -p packages/$$p/tsconfig.test.json || exit 1; done
	@echo "typecheck: ok"

lint: node_modules
	npx biome check .

# Typecheck and lint run first; the test runner prints the closing "N passed, N failed" line.
test: deps-test install typecheck lint
	node scripts/run-tests.mjs

bench: deps-bench install
	@for p in $(PACKAGES); do [ -f packages/$$p/Makefile ] || continue; $(MAKE) --no-print-directory -C packages/$$p bench || true; done

# The greyprint pipeline is the main job; guestrouter and denul follow with short demos of their own.
demo: deps-demo install
	@$(MAKE) --no-print-directory -C packages/greyprint demo
	@$(MAKE) --no-print-directory -C packages/guestrouter demo
	@$(MAKE) --no-print-directory -C packages/denul demo

clean:
	rm -rf packages/*/dist
