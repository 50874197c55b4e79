# Cloister's two commands (README quick start):
#   make run    install what is missing, build, start the service (./data, ./inbox, port 8080)
#   make test   install what is missing, build, run every test
# Other targets: make build, make deps, make clean, make bench, make bench-http,
#   make package (the .deb), make package-test (installs it in a fresh Debian 12 root).

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
PORT ?= 8080
CMAKE_ARGS ?=
PACKAGE_DIR ?= build/package

.PHONY: all run test build deps configure clean bench bench-http package package-test

all: build

deps:
	@deploy/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: deps $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@mkdir -p data inbox models
	$(BUILD_DIR)/bin/cloister serve --data ./data --inbox ./inbox --models ./models --port $(PORT)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD_DIR)/bin/bench_ingest

# The real server under load from wrk (docs/benchmarks.md, bench_http); about 3 minutes.
bench-http: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target cloister bench_http
	$(BUILD_DIR)/bin/bench_http

# The Debian package (docs/air-gapped.md), from a portable build of its own in $(PACKAGE_DIR) so
# that the test build is untouched. It compiles llama.cpp's CPU backend once per x86-64 level
# (13 of them): about 30 minutes on 2 cores.
package: deps
	cmake -S . -B $(PACKAGE_DIR) -DCMAKE_BUILD_TYPE=Release -DCLOISTER_PORTABLE=ON \
	  -DCLOISTER_BUILD_TESTS=OFF -DCLOISTER_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build $(PACKAGE_DIR) -j $(JOBS) --target package

# Installs the newest package into a fresh Debian 12 root (debootstrap from deb.debian.org,
# about 2 minutes), runs it with a small model, purges it. Needs root.
# PACKAGE_TEST_ARGS=--host: dpkg -i on this machine instead.
package-test: package
	tests/deploy/package_test.sh $(PACKAGE_TEST_ARGS) "$$(ls -t $(PACKAGE_DIR)/cloister_*.deb | head -1)" \
	  $(wildcard ../shared/models/stories260K.gguf)

# libFuzzer targets (fuzz/): built with clang in $(BUILD_DIR)/fuzz, each run for FUZZ_SECONDS;
# what they find goes to $(BUILD_DIR)/fuzz/artifacts. make test runs each briefly (ctest -L fuzz).
FUZZ_SECONDS ?= 180
.PHONY: fuzz
fuzz: deps
	fuzz/run.sh all $(BUILD_DIR)/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR)
