#!/usr/bin/env bash
# `systemd-analyze verify` on deploy/cloister.service with each example drop-in from
# deploy/systemd/, and no complaint allowed about any of them (systemd-analyze only warns, with
# exit status 0, about unknown keys and bad values; it fails for a missing ExecStart binary).
# The unit's /usr/bin/cloister is replaced by the built binary, so this runs before installing.
# No running systemd is needed. Exit 77 (skipped) without systemd-analyze.
# Usage: systemd_verify.sh DEPLOY_DIR CLOISTER_BINARY
set -euo pipefail
deploy=$1 binary=$(realpath "$2")
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
[[ -x "$binary" ]] || { echo "no executable $binary" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/bin/cloister#$binary#g" "$deploy/cloister.service" >"$work/cloister.service"
mkdir "$work/cloister.service.d"
for dropin in "$deploy"/systemd/*.conf; do
  sed "s#/usr/bin/cloister#$binary#g" "$dropin" >"$work/cloister.service.d/$(basename "$dropin")"
done

# SYSTEMD_UNIT_PATH puts the copy first in the search path, so its drop-ins are read too.
status=0
SYSTEMD_UNIT_PATH="$work:" systemd-analyze verify cloister.service >"$work/out" 2>&1 || status=$?
cat "$work/out"
if ((status != 0)); then
  echo "FAIL: systemd-analyze verify exited with $status" >&2
  exit 1
fi
if grep -q "$work" "$work/out"; then
  echo "FAIL: systemd-analyze verify complained about the unit or a drop-in (above)" >&2
  exit 1
fi
# The unit's promises that systemd cannot check: stop waits longer than serve's grace, and the
# service writes to the data folder only.
unit="$deploy/cloister.service"
# The grace: a --shutdown-grace flag in ExecStart, else serve's default (server.shutdown_grace).
grace=$(sed -n 's/^ExecStart=.*--shutdown-grace \([0-9]*\).*/\1/p' "$unit")
grace=${grace:-120}
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
if [[ -z "$grace" || -z "$stop" ]] || ((stop <= grace)); then
  echo "FAIL: TimeoutStopSec (${stop:-unset}) must exceed --shutdown-grace (${grace:-unset})" >&2
  exit 1
fi
rw=$(grep '^ReadWritePaths=' "$unit")
if [[ "$rw" != "ReadWritePaths=/var/lib/cloister" ]]; then
  echo "FAIL: the service may write to the data folder only, not: $rw" >&2
  exit 1
fi
# systemd's own exposure score (0 best, 10 worst) keeps the hardening from eroding unnoticed.
if score=$(cd "$work" && systemd-analyze security --offline=true ./cloister.service 2>/dev/null |
           sed -n 's/.*Overall exposure level for cloister.service: \([0-9.]*\).*/\1/p') &&
   [[ -n "$score" ]]; then
  echo "systemd-analyze security: exposure $score"
  if awk -v s="$score" 'BEGIN { exit !(s > 2.0) }'; then
    echo "FAIL: exposure $score is above 2.0; see systemd-analyze security --offline=true" >&2
    exit 1
  fi
fi
echo "PASS: cloister.service and drop-ins ($(ls "$work/cloister.service.d" | tr '\n' ' ')) verify"
