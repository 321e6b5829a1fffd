# crier - top-level commands. See README.md.
#   make run    install what is missing, build release, serve on 127.0.0.1:8080
#   make test   install what is missing, sanitizer build, every test
#   make build  release build only (build/crier)
#   make fuzz   run every fuzz target for FUZZ_SECONDS (default 60)
#   make docs   regenerate docs/config.md from the option table
#   make format reformat the C sources with clang-format
#   make install  crier, libcrier (.so, .a), <crier/client.h> and crier.pc
#               under PREFIX (default /usr/local; DESTDIR is honoured)
.PHONY: all deps build install build-asan build-fuzz run test unit e2e browser fuzz fuzz-smoke format \
	format-check docs bench clean

JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
SMOKE_SECONDS ?= 20
CRIER_FLAGS ?=
C_SOURCES = $(shell git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null)

all: build

deps:
	@scripts/deps.sh

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE=-O2 >/dev/null
	cmake --build build -j $(JOBS)

install: build
	cmake --install build --prefix $(PREFIX)

run: deps build
	./build/crier serve $(CRIER_FLAGS)

build-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCRIER_SANITIZE=ON >/dev/null
	cmake --build build-asan -j $(JOBS)

build-fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCRIER_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# The whole suite, in order of speed: format, unit, end-to-end, fuzz smoke.
test: deps format-check build-asan
	$(MAKE) --no-print-directory unit e2e browser fuzz-smoke

unit: build-asan
	cd build-asan && ctest --output-on-failure -j $(JOBS)

e2e: build-asan
	CRIER_BIN=$(CURDIR)/build-asan/crier node --test --test-concurrency=2 \
		--test-timeout=120000 tests/e2e/

# Debian's Chromium (playwright-core) against the sanitizer build: one file
# at a time, since each starts a browser and timing-sensitive publishers.
browser: build-asan
	CRIER_BIN=$(CURDIR)/build-asan/crier node --test --test-concurrency=1 \
		--test-timeout=60000 tests/browser/

fuzz-smoke: build-fuzz
	@tests/fuzz/run.sh $(SMOKE_SECONDS)

fuzz: build-fuzz
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i $(C_SOURCES)

format-check:
	@clang-format --dry-run --Werror $(C_SOURCES) && echo "format: ok"

docs: build
	./build/crier help serve --markdown > docs/config.md

bench: build
	bench/http.sh

clean:
	rm -rf build build-asan build-fuzz
