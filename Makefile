# Thin wrapper around CMake: the real build is CMakeLists.txt.
#   make          build (build/)
#   make test     install missing packages, build, run every test, then the
#                 unit, fuzz-replay and CLI tests again under ASan+UBSan (build-asan/)
#   make demo     install missing packages, build, run the demo hospital end to end
#   make console  the web console on the demo vault (after make demo), until Ctrl-C
#   make bench    the benchmark against restic and borg (see bench/README.md;
#                 BENCH_QUICK=1 make bench for a smaller corpus)
#   make install  install the command, library, headers, man pages and bash completion
#                 (PREFIX=/usr/local)

BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local
JOBS ?= $(shell nproc)

.PHONY: all build deps test test-fast test-asan demo console bench install clean

all: build

deps:
	@scripts/install-deps --check >/dev/null 2>&1 || scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2
	@$(MAKE) --no-print-directory test-asan

test-fast: deps build
	cd $(BUILD) && ctest --output-on-failure -j 2 -LE heavy

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCR_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 -LE heavy

demo: deps build
	@CLEANROOM=$(BUILD)/cleanroom scripts/demo.sh

# The web console on the demo vault (run `make demo` first), until Ctrl-C.
console: build
	@CLEANROOM=$(BUILD)/cleanroom scripts/console-demo.sh

bench: deps build
	@CLEANROOM=$(BUILD)/cleanroom bench/bench.sh

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
