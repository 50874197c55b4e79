# Cloister's two commands (README quick start):
#   make run    install what is missing, build, start the service (./data, ./inbox, port 8080)
#   make test   install what is missing, build, run every test
# Other targets: make build, make deps, make clean, make bench, make bench-http.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
PORT ?= 8080
CMAKE_ARGS ?=

.PHONY: all run test build deps configure clean bench bench-http

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

# libFuzzer targets (fuzz/): built with clang in $(BUILD_DIR)/fuzz, each run for FUZZ_SECONDS;
# what they find goes to $(BUILD_DIR)/fuzz/artifacts. make test runs each briefly (ctest -L fuzz).
FUZZ_SECONDS ?= 180
.PHONY: fuzz
fuzz: deps
	fuzz/run.sh all $(BUILD_DIR)/fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR)
