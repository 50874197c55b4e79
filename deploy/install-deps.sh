#!/usr/bin/env bash
# Installs every Debian package Cloister's build, tests and benchmarks need, then the browser
# test's npm packages (tests/ui, from its package-lock.json).
# Installs only what is missing; safe to run any number of times.
# Usage: deploy/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git ca-certificates
  # storage
  libsqlite3-dev
  # index: FAISS is a static library that needs OpenMP (libgomp, with gcc) and BLAS/LAPACK
  libfaiss-dev libopenblas-dev liblapack-dev
  # web
  libpoco-dev libsodium-dev
  # ingest
  libpoppler-cpp-dev libicu-dev libgmime-3.0-dev libxml2-dev libarchive-dev
  tesseract-ocr tesseract-ocr-eng
  # tests
  libgtest-dev libgmock-dev wamerican curl
  # fuzzing (fuzz/, make fuzz and the short runs in make test): clang with libFuzzer and the
  # sanitizer runtimes, which clang-14 only recommends
  clang-14 libclang-rt-14-dev
  # tests: no egress (tests/cli/no_egress_test.cpp traces every address the service reaches for)
  strace
  # tests: the browser UI end to end (tests/ui drives it with playwright-core)
  chromium
  # benchmarks: pdftotext as the ingestion reference; wrk as the HTTP load generator (bench_http)
  poppler-utils wrk
  # packaging (make package, make package-test): dpkg-shlibdeps for the .deb's dependencies,
  # debootstrap for the clean Debian 12 root the package is installed into, nginx for checking
  # the TLS proxy example (only its binary is used; where systemd runs, Debian starts its default site)
  dpkg-dev debootstrap nginx
  # make package-test boots that root with systemd to run the packaged service
  systemd-container
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# llama.cpp's source arrives through npm; any working npm will do (nodesource's nodejs ships its own).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} == 0)); then
  echo "install-deps: all Debian packages present"
else
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser test's npm packages, exactly as locked. `npm ci` starts from scratch each time, so
# it runs only when the lock differs from the one last installed (a copy kept in node_modules).
ui_tests="$(cd "$(dirname "$0")/../tests/ui" && pwd)"
stamp="$ui_tests/node_modules/.cloister-installed-lock.json"
if cmp -s "$ui_tests/package-lock.json" "$stamp"; then
  echo "install-deps: tests/ui npm packages present"
else
  echo "install-deps: npm ci in tests/ui"
  (cd "$ui_tests" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$ui_tests/package-lock.json" "$stamp"
fi
