#!/usr/bin/env bash
# Builds and runs Cloister's libFuzzer targets (fuzz/CMakeLists.txt), with clang.
#
#   fuzz/run.sh build DIR                  configure (once) and build the targets in DIR
#   fuzz/run.sh run DIR TARGET SECONDS     run one target, e.g. fuzz_mail, for SECONDS
#   fuzz/run.sh all DIR SECONDS            build, then run every target in turn (make fuzz)
#   fuzz/run.sh check DIR TARGET SECONDS   the test suite's short run (fuzz/ctest.cmake): from
#                                          the seeds alone, with a fixed random seed, so that it
#                                          finds the same as last time unless the code changed
#
# Seeds: fuzz/seeds/<name>/ (small, handmade, and each crash found so far) and, by path, the
# shared corpus (CLOISTER_SHARED_DIR, default ../shared beside the checkout); files over the
# target's input size limit are left out. What a run finds new goes to DIR/corpus/<target>/
# (kept between runs, so later runs start further); a crash, leak or timeout is written to
# DIR/artifacts/<target>/ and the run fails. Reproduce one with: DIR/<target> ARTIFACT
# Environment: FUZZ_JOBS (build jobs, default 2), FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${CLOISTER_SHARED_DIR:-$root/../shared}"
targets=(fuzz_mail fuzz_mbox fuzz_text fuzz_http fuzz_pdf)

build() {
  local dir="$1"
  if [[ ! -f "$dir/CMakeCache.txt" ]]; then
    cmake -S "$root/fuzz" -B "$dir" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$dir" -j "${FUZZ_JOBS:-2}"
}

# seed_dirs TARGET: the handmade seeds, then the shared corpus folders the target reads.
seed_dirs() {
  local name="${1#fuzz_}"
  echo "$root/fuzz/seeds/$name"
  case "$name" in
    mail | mbox) echo "$shared/corpus/mail" ;;
    pdf) echo "$shared/corpus/pdfs" ;;
    text) echo "$shared/corpus/mail/hunnysoft" "$shared/corpus/mail/mime4j" ;;
  esac
}

max_len() {
  case "$1" in
    fuzz_pdf | fuzz_mail | fuzz_mbox) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

# Flags of one target. poppler (a system library, not ours) can take minutes or gigabytes on a
# damaged PDF under AddressSanitizer, whose realloc copies where glibc's remaps: the PDF target
# runs in fork mode, where such an input is recorded in the artifacts but the run goes on (in
# production the extraction sandbox's time and memory limits contain it). Crashes still stop it.
target_flags() {
  case "$1" in
    # (A timeout in the job running when time is up is still the exit status: hence the code.)
    fuzz_pdf) echo "-fork=1 -ignore_timeouts=1 -ignore_ooms=1 -timeout=20 -timeout_exitcode=0" ;;
    # The server's threads allocate and free at their own pace, so libFuzzer's count of mallocs
    # per input cannot tell a leak, and the leak checks it then starts stop every thread with
    # ptrace, which can wedge a process with threads blocked in sockets.
    fuzz_http) echo "-timeout=30 -detect_leaks=0" ;;
    *) echo "-timeout=30" ;;
  esac
}

# run DIR TARGET SECONDS [CORPUS [FLAGS...]]
run() {
  local dir="$1" target="$2" seconds="$3" corpus="${4:-$1/corpus/$2}"
  local limit seeds="$dir/seeds/$target"
  limit="$(max_len "$target")"
  # libFuzzer would cut longer seeds to the limit (mostly breaking them), so they stay out.
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus" "$dir/artifacts/$target"
  local d
  for d in $(seed_dirs "$target"); do
    [[ -d "$d" ]] || { echo "run.sh: no seed folder $d, going on without it" >&2; continue; }
    find "$d" -type f -size -"$((limit / 1024 + 1))"k -print0 |
      while IFS= read -r -d '' f; do ln -sf "$f" "$seeds/$(echo "$f" | md5sum | cut -c1-16)"; done
  done
  echo "run.sh: $target for ${seconds}s, $(find "$seeds" -type l | wc -l) seeds"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  "$dir/$target" -max_total_time="$seconds" -max_len="$limit" $(target_flags "$target") \
    -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" \
    "${@:5}" ${FUZZ_ARGS:-} "$corpus" "$seeds"
}

check() {
  local dir="$1" target="$2" corpus="$1/check-corpus/$2"
  rm -rf "$corpus"
  run "$dir" "$target" "$3" "$corpus" -seed=1
}

all() {
  local dir="$1" failed=()
  build "$dir"
  for t in "${targets[@]}"; do run "$dir" "$t" "$2" || failed+=("$t"); done
  if ((${#failed[@]})); then
    echo "run.sh: failed: ${failed[*]} (inputs in $dir/artifacts/)" >&2
    return 1
  fi
  echo "run.sh: every target ran ${2}s without a crash; artifacts: $(find "$dir/artifacts" -type f | wc -l)"
}

case "${1:-}" in
  build) build "$2" ;;
  run) run "$2" "$3" "$4" ;;
  check) check "$2" "$3" "$4" ;;
  all) all "$2" "$3" ;;
  *)
    echo "usage: $0 build DIR | run DIR TARGET SECONDS | all DIR SECONDS | check DIR TARGET SECONDS" >&2
    exit 2
    ;;
esac
