# Shared shell helpers for the project's scripts. Source it; do not run it.
# ROOT is the checkout; PATH gains the pinned Deno from node_modules.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$ROOT/node_modules/.bin:$PATH"

# SCRIPT: the running script's name, for its one-line messages.
SCRIPT=$(basename "$0")

# stop_first WHAT CMD: stops the script with one line on stderr saying WHAT is
# missing and naming CMD, what to run (or do) first. Every script the README
# names either installs what it needs or stops this way: never silently.
stop_first() {
  echo "$SCRIPT: $1: $2 first" >&2
  exit 1
}

# need_deno: stops, naming scripts/install-deps, where the pinned Deno is not
# installed (a fresh clone has no node_modules/).
need_deno() {
  "$ROOT/scripts/deno" --version >/dev/null 2>&1 ||
    stop_first "the pinned Deno (node_modules/) is not installed" "run scripts/install-deps (or npm ci)"
}

# apt_install PKG...: installs the Debian packages that are missing (root only).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null ||
    stop_first "Debian packages ${missing[*]} are missing and apt-get is not available" "install them"
  [ "$(id -u)" = 0 ] ||
    stop_first "Debian packages ${missing[*]} are missing" "run scripts/install-deps as root"
  if [ ! -f /var/lib/apt/lists/lock ] || [ -z "$(ls /var/lib/apt/lists/*Packages 2>/dev/null | head -1)" ]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
}

# npm_deps: installs the pinned npm packages (Deno included) when missing or stale.
npm_deps() {
  if [ ! -x "$ROOT/node_modules/.bin/deno" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    command -v npm >/dev/null || apt_install npm
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# kvm_usable: true where VMs can run directly: /dev/kvm and /dev/vhost-vsock
# exist and the CPU shows hardware virtualization. A VM may expose /dev/kvm
# without nested virtualization behind it (QEMU then aborts or hangs), so the
# node alone is not enough. Elsewhere VM work goes through scripts/testhost.
kvm_usable() {
  [ -c /dev/kvm ] && [ -c /dev/vhost-vsock ] && grep -qw -E 'svm|vmx' /proc/cpuinfo
}

# vm_file_deadlines FILE: seconds of the literal `deadlineMs: N` in FILE
# (vmTest's, see tests/vm/deadline.ts), summed. It is read from the text, so
# each vmTest call must carry its own literal deadline: a loop registering
# several tests under one literal would be counted once. vmTest checks its
# registrations against this sum (VM_FILE_DEADLINES_S) and refuses to load
# where they add up to more.
vm_file_deadlines() {
  grep -ho 'deadlineMs: [0-9_]*' "$1" | tr -d _ |
    awk '{ s += $2 } END { printf "%d\n", s / 1000 }'
}

# vm_file_bound FILE: seconds one VM test file may take in its own test host:
# the sum of its tests' own deadlines (vm_file_deadlines) plus 300 s for
# booting the test host and starting Deno under emulation. Above it, one hung
# test fails alone (at its deadline) instead of ending the test host.
vm_file_bound() {
  echo $(($(vm_file_deadlines "$1") + 300))
}

# vm_group_bound FILE...: seconds the VM group in FILEs may take in all: the
# sum of each file's bound (vm_file_bound) plus the largest once more, for
# the one rerun of a file whose test host froze (scripts/test-vm).
vm_group_bound() {
  local f b s=0 max=0
  for f in "$@"; do
    b=$(vm_file_bound "$f")
    s=$((s + b))
    [ "$b" -gt "$max" ] && max=$b
  done
  echo $((s + max))
}

# Newer containerd releases, beside Debian 12's 1.6: Debian's own packages of
# later suites, unpacked (dpkg -x) into the project's cache and run from there
# as they are; nothing of the system is installed or upgraded from those
# suites. Pinned: a suite that drops the version fails the fetch, naming it.
# VERSION:SUITE:DEBIAN_VERSION, one line each.
CONTAINERD_PEERS=(
  "1.7:trixie:1.7.24~ds1-6+deb13u1"
  "2.1:sid:2.1.9+ds1-5"
)

# containerd_peer_dir VERSION: where containerd VERSION (1.7, 2.1) is unpacked;
# its binaries are under usr/bin there.
containerd_peer_dir() {
  echo "$ROOT/.cache/peers/containerd-$1"
}

# debian_peer_fetch SUITE PACKAGE DEBIAN_VERSION DEST: downloads PACKAGE at
# DEBIAN_VERSION from Debian's SUITE and unpacks it into DEST. apt runs with
# a private sources list and package lists (under a temporary directory), so
# the system's own sources and lists never see SUITE, even if this is
# interrupted. apt checks the package against the suite's signed index.
debian_peer_fetch() {
  local suite=$1 pkg=$2 ver=$3 dest=$4 tmp
  tmp=$(mktemp -d)
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/dl"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$tmp/sources.list"
  local o=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/none"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
  if ! apt-get "${o[@]}" update -qq >"$tmp/log" 2>&1 ||
    ! (cd "$tmp/dl" && apt-get "${o[@]}" download "$pkg=$ver" >>"$tmp/log" 2>&1); then
    echo "fetching $pkg $ver from Debian $suite failed: $(tail -3 "$tmp/log")" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$dest.tmp"
  mkdir -p "$dest.tmp"
  dpkg -x "$tmp/dl/"*.deb "$dest.tmp"
  echo "$ver" >"$dest.tmp/.debian-version"
  rm -rf "$dest" "$tmp"
  mv "$dest.tmp" "$dest"
}

# containerd_peers: fetches each of CONTAINERD_PEERS not yet in the cache at
# its pinned version.
containerd_peers() {
  local entry v suite ver dir
  for entry in "${CONTAINERD_PEERS[@]}"; do
    IFS=: read -r v suite ver <<<"$entry"
    dir=$(containerd_peer_dir "$v")
    [ "$(cat "$dir/.debian-version" 2>/dev/null)" = "$ver" ] && [ -x "$dir/usr/bin/containerd" ] && continue
    debian_peer_fetch "$suite" containerd "$ver" "$dir" || return 1
  done
}
