#!/usr/bin/env bash
# Installs every Debian package Cloister's build, tests and benchmarks need.
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
  libpoco-dev
  # ingest
  libpoppler-cpp-dev libicu-dev libgmime-3.0-dev libxml2-dev libarchive-dev
  tesseract-ocr tesseract-ocr-eng
  # tests
  libgtest-dev libgmock-dev wamerican curl
  # benchmarks: pdftotext as the ingestion reference
  poppler-utils
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# llama.cpp's source arrives through npm; any working npm will do (nodesource's nodejs ships its own).
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]} == 0)); then
  echo "install-deps: all dependencies present"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
