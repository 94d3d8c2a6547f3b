# Debian's kernel for the test host and the guest. Source it; do not run it.
# Needs lib.sh sourced first and a `fail MESSAGE` function.

# prepare_kernel DIR: downloads linux-image-amd64 and the versioned package it
# depends on, unpacks it into DIR, builds modules.dep and extracts the
# uncompressed vmlinux. DIR/version holds the release; DIR/.done marks success.
prepare_kernel() {
  local kdir=$1 dl="$1.dl"
  if [ -f "$kdir/.done" ]; then return 0; fi
  rm -rf "$kdir" "$dl"
  mkdir -p "$dl" "$kdir"
  local meta versioned ver
  (cd "$dl" && apt-get download linux-image-amd64 >/dev/null 2>&1) ||
    { apt-get update -qq && (cd "$dl" && apt-get download linux-image-amd64 >/dev/null 2>&1); } ||
    fail "cannot download linux-image-amd64"
  meta=$(ls "$dl"/linux-image-amd64_*.deb)
  versioned=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*' | head -1)
  [ -n "$versioned" ] || fail "cannot tell which kernel linux-image-amd64 depends on"
  (cd "$dl" && apt-get download "$versioned" >/dev/null 2>&1) || fail "cannot download $versioned"
  dpkg -x "$dl/$versioned"_*.deb "$kdir"
  ver=$(ls "$kdir/lib/modules" | head -1)
  depmod -b "$kdir" "$ver"
  extract_vmlinux "$kdir/boot/vmlinuz-$ver" "$kdir/vmlinux"
  echo "$ver" >"$kdir/version"
  rm -rf "$dl"
  touch "$kdir/.done"
}

# extract_vmlinux BZIMAGE OUT: the uncompressed ELF kernel (PVH entry) inside
# an xz-compressed bzImage; it boots about twice as fast under TCG.
extract_vmlinux() {
  local offset
  offset=$(perl -0777 -ne 'print index($_, "\xfd7zXZ\x00")' "$1")
  [ "$offset" -ge 0 ] 2>/dev/null || fail "no xz payload in $1"
  tail -c +"$((offset + 1))" "$1" | xz -dc --single-stream >"$2.tmp" 2>/dev/null || true
  [ "$(head -c 4 "$2.tmp" | od -An -c | tr -d ' ')" = "177ELF" ] || fail "extracting vmlinux from $1 failed"
  mv "$2.tmp" "$2"
}

# module_paths KDIR MODULE...: the .ko files (relative to KDIR) that load
# MODULE... with their dependencies, in load order, each once.
module_paths() {
  local kdir=$1 ver line path
  shift
  ver=$(cat "$kdir/version")
  modprobe -d "$kdir" -S "$ver" --show-depends -a "$@" | while read -r line; do
    case "$line" in insmod\ *) ;; *) continue ;; esac
    path=${line#insmod }
    path=${path%% *}
    echo "${path#"$kdir"/}"
  done | awk '!seen[$0]++'
}
