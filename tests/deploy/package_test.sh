#!/usr/bin/env bash
# Installs the Cloister .deb, checks what it installed and that the program runs from it, then
# purges it and checks that nothing is left behind.
#
#   package_test.sh [--chroot | --host] DEB [MODEL.gguf]
#
# --chroot (the default when debootstrap is installed): into a fresh Debian 12 root made with
#   debootstrap from deb.debian.org, with apt resolving the package's declared dependencies, so
#   a missing Depends fails here. The root's packages are cached as a tarball under
#   ~/.cache/cloister (or $XDG_CACHE_HOME/cloister); the root itself is removed afterwards.
# --host: dpkg -i on this machine (its build dependencies already hold the libraries). Refuses
#   when Cloister, its user or /var/lib/cloister already exist, and removes them all at the end.
#   With systemd-nspawn (package systemd-container), the root also gets systemd and is booted:
#   the packaged unit must start cloister with its hardening in force (no capabilities, no new
#   privileges, a seccomp filter), answer /api/v1/health, ingest a file dropped in the inbox
#   (the sandboxed extraction worker under the unit's limits), answer a question with MODEL,
#   and stop cleanly. (IPAddressDeny= needs cgroup v2 with BPF, which containers may lack: the
#   test reports whether systemd enforced it, it does not fail on it.)
# MODEL.gguf: a small chat model (../shared/models/stories260K.gguf) that `cloister models`
#   must load, which proves that the CPU backend modules in /usr/lib/cloister load.
# Needs root.
set -euo pipefail

mode=""
if [[ "${1:-}" == --chroot || "${1:-}" == --host ]]; then mode=${1#--}; shift; fi
deb=$(realpath "${1:?usage: package_test.sh [--chroot|--host] DEB [MODEL.gguf]}")
model=${2:-}
[[ -n "$model" ]] && model=$(realpath "$model")
[[ $(id -u) -eq 0 ]] || { echo "package_test: needs root (dpkg, chroot)" >&2; exit 1; }
if [[ -z "$mode" ]]; then
  if command -v debootstrap >/dev/null; then mode=chroot; else mode=host; fi
fi

root=""         # the Debian root in chroot mode, empty on the host
run=()          # runs a command in the system under test
boot=false      # chroot mode with systemd-nspawn: boot the root and start the service
nspawn_pid=""   # the running systemd-nspawn
nspawn_tmpfs="" # a tmpfs this script mounted for systemd-nspawn, unmounted at the end
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  if [[ -n "$nspawn_pid" ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"; wait "$nspawn_pid" 2>/dev/null || true
  fi
  [[ -n "$nspawn_tmpfs" ]] && umount "$nspawn_tmpfs"
  if [[ -n "$root" && -d "$root" ]]; then
    mountpoint -q "$root/proc" && umount "$root/proc"
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT

make_root() {
  local cache="${XDG_CACHE_HOME:-$HOME/.cache}/cloister"
  local tarball="$cache/debootstrap-bookworm-minbase.tgz"
  local mirror="http://deb.debian.org/debian"
  mkdir -p "$cache"
  root=$(mktemp -d /var/tmp/cloister-package-test.XXXXXX)
  chmod 0755 "$root"  # apt's unprivileged _apt user must reach its lists inside
  if [[ ! -s "$tarball" ]]; then
    step "debootstrap: fetching Debian 12 (minbase) from $mirror into $tarball"
    local fetch; fetch=$(mktemp -d /var/tmp/cloister-debootstrap.XXXXXX)
    debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$fetch" "$mirror" >/dev/null
    rm -rf --one-file-system "$fetch"
    mv "$tarball.tmp" "$tarball"
  fi
  step "debootstrap: a fresh Debian 12 root in $root"
  debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >/dev/null
  mount -t proc proc "$root/proc"
  # As in a container: package scripts must not start services (ours would not: no systemd).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  run=(chroot "$root")
}

install_package() {
  if [[ "$mode" == chroot ]]; then
    cp "$deb" "$root/tmp/cloister.deb"
    "${run[@]}" apt-get update -qq
    if command -v systemd-nspawn >/dev/null; then
      boot=true
      # Before the package, so its postinst enables the unit as on a real server.
      step "apt-get install systemd in the root (to boot it later)"
      DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends \
        systemd systemd-sysv dbus curl >/dev/null 2>&1 || fail "could not install systemd in the root"
    fi
    step "apt-get install ./cloister.deb (dependencies from the Debian mirror)"
    DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get install -y -qq --no-install-recommends \
      /tmp/cloister.deb >/tmp/cloister-package-test-apt.log 2>&1 ||
      { cat /tmp/cloister-package-test-apt.log; fail "apt-get could not install the package"; }
  else
    dpkg -s cloister >/dev/null 2>&1 && fail "cloister is already installed here; remove it first"
    getent passwd cloister >/dev/null && fail "a user 'cloister' exists already; refusing to touch it"
    [[ -e /var/lib/cloister ]] && fail "/var/lib/cloister exists already; refusing to touch it"
    step "dpkg -i $deb"
    dpkg -i "$deb" || fail "dpkg -i failed (missing dependencies? apt-get install $deb)"
  fi
}

check_installed() {
  step "installed files"
  "${run[@]}" dpkg -L cloister | grep -E '^/usr/bin/|^/usr/lib/cloister/|^/etc/|systemd'
  [[ "$("${run[@]}" dpkg -L cloister | grep -c '^/usr/bin/')" == 1 ]] || fail "more than cloister in /usr/bin"
  "${run[@]}" dpkg-query -W -f='${Conffiles}\n' cloister | grep -q /etc/cloister/cloister.conf ||
    fail "/etc/cloister/cloister.conf is not a conffile"
  "${run[@]}" test -f /lib/systemd/system/cloister.service || fail "no systemd unit"
  if "${run[@]}" ldd /usr/bin/cloister | grep 'not found'; then fail "unresolved libraries"; fi

  if [[ "$mode" == host ]] && command -v systemd-analyze >/dev/null; then
    step "systemd-analyze verify on the installed unit"
    local verify
    verify=$(systemd-analyze verify /lib/systemd/system/cloister.service 2>&1) ||
      { echo "$verify"; fail "systemd-analyze verify"; }
    [[ -z "$verify" ]] || { echo "$verify"; fail "systemd-analyze verify complained"; }
  fi

  step "the cloister user and its folders"
  "${run[@]}" getent passwd cloister || fail "no cloister user"
  "${run[@]}" stat -c '%U:%G %a %n' /var/lib/cloister /var/lib/cloister/inbox /var/lib/cloister/models
  [[ "$("${run[@]}" stat -c %U /var/lib/cloister/inbox)" == cloister ]] || fail "inbox not owned by cloister"

  step "cloister --version"
  "${run[@]}" cloister --version || fail "cloister --version"
  step "cloister config check: the packaged configuration is valid"
  "${run[@]}" cloister config check /etc/cloister/cloister.conf || fail "cloister config check"
  # From / as the cloister user, with no flags: the folders come from /etc/cloister/cloister.conf.
  step "cloister status (as the cloister user; folders from the configuration)"
  "${run[@]}" runuser -u cloister -- cloister status || fail "cloister status"
  "${run[@]}" runuser -u cloister -- cloister status | grep -q 'data in /var/lib/cloister$' ||
    fail "cloister status did not take the data folder from /etc/cloister/cloister.conf"
  if [[ -n "$model" ]]; then
    step "cloister models: $(basename "$model") loads through the CPU backend in /usr/lib/cloister"
    local target="${root}/var/lib/cloister/models/$(basename "$model")"
    cp "$model" "$target" && chmod 0644 "$target"
    local out
    out=$("${run[@]}" runuser -u cloister -- env CLOISTER_LOG=debug cloister models 2>&1) ||
      { echo "$out"; fail "cloister models"; }
    grep -v ' debug ' <<<"$out"
    grep -q ' loads$' <<<"$out" || fail "the model does not load from the installed package"
    # ggml names the CPU variant it chose for this machine; it must come from the package.
    grep -o 'loaded CPU backend from .*' <<<"$out" || fail "no CPU backend named in the log"
    grep -q 'loaded CPU backend from /usr/lib/cloister/libggml-cpu-' <<<"$out" ||
      fail "the CPU backend did not come from /usr/lib/cloister"
    step "cloister doctor (as the cloister user)"
    "${run[@]}" runuser -u cloister -- cloister doctor || fail "cloister doctor found a failure"
    rm -f "$target"
  fi
}

# Runs a command inside the booted root.
in_boot() { nsenter -t "$(pgrep -P "$nspawn_pid" | head -1)" -a "$@"; }

# Polls CMD (in the booted root) until it succeeds, for up to SECONDS.
wait_for() {
  local seconds=$1; shift
  for ((i = 0; i < seconds * 2; i++)); do
    if in_boot "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

boot_and_check_service() {
  $boot || { echo "note: no systemd-nspawn (systemd-container): the unit was not started"; return 0; }
  step "boot the root with systemd-nspawn: the packaged unit runs cloister"
  if [[ -n "$model" ]]; then
    cp "$model" "$root/var/lib/cloister/models/" && chmod 0644 "$root/var/lib/cloister/models/$(basename "$model")"
  fi
  umount "$root/proc"
  # nspawn keeps per-machine state under /run/systemd/nspawn and refuses to clean it up when
  # /run is not a tmpfs (as in some containers): give it one.
  if [[ "$(findmnt -n -o FSTYPE /run 2>/dev/null)" != tmpfs ]] && ! mountpoint -q /run/systemd/nspawn; then
    mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn
    nspawn_tmpfs=/run/systemd/nspawn
  fi
  setsid systemd-nspawn --keep-unit --register=no -D "$root" -b --console=pipe \
    </dev/null >/tmp/cloister-package-test-boot.log 2>&1 &
  nspawn_pid=$!
  wait_for 60 sh -c 'systemctl is-system-running | grep -qE "running|degraded"' ||
    { cat /tmp/cloister-package-test-boot.log; fail "the root did not boot"; }
  wait_for 30 systemctl is-active --quiet cloister ||
    { in_boot systemctl status cloister --no-pager; fail "cloister.service is not active"; }
  local main status
  main=$(in_boot systemctl show -p MainPID --value cloister)
  status=$(in_boot cat "/proc/$main/status")
  grep -E '^(CapEff|NoNewPrivs|Seccomp):' <<<"$status"
  grep -q '^CapEff:[[:space:]]*0*$' <<<"$status" || fail "the service has capabilities"
  grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$status" || fail "NoNewPrivileges is not in force"
  grep -q '^Seccomp:[[:space:]]*2$' <<<"$status" || fail "no system call filter in force"
  wait_for 20 curl -sf http://127.0.0.1:8080/api/v1/health || fail "no answer on /api/v1/health"
  in_boot curl -s http://127.0.0.1:8080/api/v1/health; echo

  step "a file dropped in the inbox is ingested by the service"
  in_boot sh -c 'echo "The notice period for terminating the contract is ninety days." \
                 > /var/lib/cloister/inbox/contract.txt'
  wait_for 60 sh -c 'curl -s http://127.0.0.1:8080/api/v1/status | grep -q "\"ready\":1"' ||
    { in_boot journalctl -u cloister --no-pager | tail -20; fail "the inbox file was not ingested"; }
  if [[ -n "$model" ]]; then
    step "a question answered by the chat model, in the service"
    local answer
    answer=$(in_boot curl -s -m 120 -H 'Content-Type: application/json' \
             -d '{"question": "What is the notice period?", "k": 3}' http://127.0.0.1:8080/api/v1/ask)
    grep -q '"mode":"generated"' <<<"$answer" || { echo "$answer"; fail "no generated answer"; }
    echo "answered (mode generated, ${#answer} bytes)"
  fi

  # Whether systemd could apply the IP allow list here (cgroup v2 with BPF): a unit with the
  # same two lines tries to reach a host on the network.
  if in_boot systemd-run --wait --pipe -q -p IPAddressDeny=any -p IPAddressAllow=localhost \
       curl -s -o /dev/null -m 5 http://deb.debian.org/ 2>/dev/null; then
    echo "note: IPAddressDeny= is not enforced in this container (no cgroup BPF); it was not tested"
  else
    echo "IPAddressDeny=any with IPAddressAllow=localhost is enforced"
  fi

  step "systemctl stop cloister: a clean stop"
  in_boot systemctl stop cloister
  in_boot journalctl -u cloister --no-pager | grep -q 'serve: stopped' || fail "serve did not stop cleanly"
  in_boot systemctl is-failed --quiet cloister && fail "cloister.service failed on stop"
  kill -TERM "$nspawn_pid"; wait "$nspawn_pid" 2>/dev/null || true
  nspawn_pid=""
  [[ -n "$model" ]] && rm -f "$root/var/lib/cloister/models/$(basename "$model")"
  mount -t proc proc "$root/proc"
}

reinstall_keeps_config() {
  step "reinstall (as an upgrade would): the edited configuration and the data stay"
  local pkg=$deb
  [[ "$mode" == chroot ]] && pkg=/tmp/cloister.deb
  "${run[@]}" sh -c 'echo "; edited by the administrator" >> /etc/cloister/cloister.conf'
  "${run[@]}" touch /var/lib/cloister/inbox/kept.txt
  DEBIAN_FRONTEND=noninteractive "${run[@]}" dpkg -i "$pkg" >/dev/null || fail "reinstall failed"
  "${run[@]}" grep -q '^; edited by the administrator' /etc/cloister/cloister.conf ||
    fail "the reinstall replaced the edited /etc/cloister/cloister.conf"
  "${run[@]}" test -f /var/lib/cloister/inbox/kept.txt || fail "the reinstall lost a file in the inbox"
  "${run[@]}" rm -f /var/lib/cloister/inbox/kept.txt
}

purge_and_check() {
  local files; files=$("${run[@]}" dpkg-query -L cloister | grep -v '^/\.$')
  step "purge"
  if [[ "$mode" == chroot ]]; then
    # (apt's "Can not write log (Is /dev/pts mounted?)" is harmless: no terminal in the root)
    DEBIAN_FRONTEND=noninteractive "${run[@]}" apt-get purge -y -qq cloister >/dev/null
  else
    dpkg -P cloister
  fi
  "${run[@]}" dpkg -s cloister >/dev/null 2>&1 && fail "cloister still installed"
  local left=()
  while read -r f; do
    # Shared directories (/usr/bin, /etc, ...) stay; the package's own files must go.
    if "${run[@]}" test -e "$f" && ! "${run[@]}" test -d "$f"; then left+=("$f"); fi
  done <<<"$files"
  ((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
  for d in /etc/cloister /usr/lib/cloister /usr/share/doc/cloister; do
    "${run[@]}" test -e "$d" && fail "$d left after purge"
  done
  # The documents stay on purge (postrm says so); the administrator removes them and the user.
  step "documents and user kept on purge, as documented; removing them as an administrator would"
  "${run[@]}" rm -rf /var/lib/cloister
  "${run[@]}" deluser --system --quiet cloister
  "${run[@]}" getent passwd cloister >/dev/null && fail "cloister user left"
  "${run[@]}" getent group cloister >/dev/null && fail "cloister group left"
  "${run[@]}" find /etc/systemd /var/lib/systemd -name 'cloister*' | grep . &&
    fail "systemd links or state left after purge"
  return 0
}

[[ "$mode" == chroot ]] && make_root
install_package
check_installed
boot_and_check_service
reinstall_keeps_config
purge_and_check
echo "PASS: $(basename "$deb") installs ($mode), runs, and purges cleanly"
