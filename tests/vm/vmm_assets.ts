/**
 * Guest assets for the built-in VMM's tests and benchmark: Debian's kernel
 * (bzImage and the vmlinux extracted from it, shared with scripts/testhost's
 * cache when present) and small busybox initrds built on demand under
 * `.cache/vmm/`.
 * @module
 */
import { exists } from "../../common/fs.ts";
import { runScript } from "../command.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const TESTHOST_KERNEL = `${ROOT}/.cache/testhost/kernel`;
const CACHE = `${ROOT}/.cache/vmm`;

/** Paths of Debian's kernel: bzImage, vmlinux, module tree and version. */
export interface KernelAssets {
  bzImage: string;
  vmlinux: string;
  dir: string;
  version: string;
}

/** Debian's kernel, downloaded and unpacked once (reusing the test host's copy). */
export async function kernelAssets(): Promise<KernelAssets> {
  let dir = TESTHOST_KERNEL;
  if (!exists(`${dir}/.done`)) {
    dir = `${CACHE}/kernel`;
    if (!exists(`${dir}/.done`)) {
      await runScript(`
        rm -rf "${dir}.tmp" && mkdir -p "${dir}.tmp/dl" && cd "${dir}.tmp/dl"
        apt-get download linux-image-amd64 >/dev/null 2>&1 || { apt-get update -qq && apt-get download linux-image-amd64 >/dev/null; }
        v=$(dpkg-deb -f linux-image-amd64_*.deb Depends | tr ',' '\\n' | grep -o 'linux-image-[0-9][^ ]*' | head -1)
        apt-get download "$v" >/dev/null
        dpkg -x "$v"_*.deb "${dir}.tmp"
        ver=$(ls "${dir}.tmp/lib/modules" | head -1)
        depmod -b "${dir}.tmp" "$ver"
        off=$(perl -0777 -ne 'print index($_, "\\xfd7zXZ\\x00")' "${dir}.tmp/boot/vmlinuz-$ver")
        tail -c +$((off + 1)) "${dir}.tmp/boot/vmlinuz-$ver" | xz -dc --single-stream >"${dir}.tmp/vmlinux" 2>/dev/null || true
        echo "$ver" >"${dir}.tmp/version"
        rm -rf "${dir}.tmp/dl" && touch "${dir}.tmp/.done" && rm -rf "${dir}" && mv "${dir}.tmp" "${dir}"
      `);
    }
  }
  const version = Deno.readTextFileSync(`${dir}/version`).trim();
  return { bzImage: `${dir}/boot/vmlinuz-${version}`, vmlinux: `${dir}/vmlinux`, dir, version };
}

/** Guest modules the test initrd loads, with their dependencies. */
export const GUEST_MODULES: readonly string[] = [
  "virtio_mmio",
  "virtio_blk",
  "virtio_net",
  "vmw_vsock_virtio_transport",
  "9pnet_virtio",
  "9p",
];

/** The C source of a tiny static vsock echo server for the guest (busybox has none). */
const VSOCK_ECHO_C = `
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
/* vsock-echo PORT [once]: echo server; vsock-echo client PORT MSG: send MSG to the host, print the reply. */
int main(int argc, char **argv) {
  struct sockaddr_vm a = {0};
  a.svm_family = AF_VSOCK;
  int s = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (s < 0) { perror("vsock-echo: socket"); return 1; }
  if (argc > 3 && strcmp(argv[1], "client") == 0) {
    a.svm_port = atoi(argv[2]); a.svm_cid = VMADDR_CID_HOST;
    if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("vsock-echo: connect"); return 1; }
    write(s, argv[3], strlen(argv[3]));
    shutdown(s, SHUT_WR);
    char buf[256]; ssize_t n, off = 0;
    while (off < 255 && (n = read(s, buf + off, 255 - off)) > 0) off += n;
    buf[off] = 0;
    printf("VMM-VSOCK-REPLY=%s\\n", buf); fflush(stdout);
    return 0;
  }
  a.svm_port = argc > 1 ? atoi(argv[1]) : 1024; a.svm_cid = VMADDR_CID_ANY;
  if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 4)) { perror("vsock-echo: listen"); return 1; }
  printf("VMM-VSOCK-LISTENING %d\\n", a.svm_port); fflush(stdout);
  for (;;) {
    int c = accept(s, 0, 0);
    if (c < 0) continue;
    char buf[4096]; ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0) write(c, buf, n);
    close(c);
    if (argc > 2 && strcmp(argv[2], "once") == 0) return 0;
  }
}
`;

/** The start of a test guest's /init: busybox's applets, /proc, /sys, /dev and /mnt. */
export const INIT_MOUNTS = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /mnt
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
`;

/** The init's module loading: the initrd's modules in order, virtio-mmio given the command line's devices. */
export const INIT_MODULES =
  `mmio=$(tr ' ' '\\n' </proc/cmdline | sed -n 's/^virtio_mmio\\.device=/device=/p' | tr '\\n' ' ')
for m in $(cat /modules.order); do
  case "$m" in
    */virtio_mmio.ko) insmod "/$m" $mmio ;;
    *) insmod "/$m" ;;
  esac
done
`;

/** The test guest's /init: prints markers the tests look for, then reboots. */
export const TEST_INIT = `${INIT_MOUNTS}echo "VMM-GUEST-INIT"
echo "VMM-NPROC=$(nproc)"
${INIT_MODULES}sleep 0.3
if grep -q vmmtest.debug=1 /proc/cmdline; then
  ls /sys/bus/platform/devices/ /sys/class/net/
  dmesg | grep -i -E "virtio|mmio|net|LNRO" | head -30
fi
if [ -b /dev/vda ]; then echo "VMM-DISK=$(head -c 32 /dev/vda | tr -d '\\0')"; fi
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up && ip addr add 10.77.0.2/24 dev eth0
  if ping -c 2 -W 3 10.77.0.1 >/dev/null 2>&1; then echo "VMM-PING=ok"; else echo "VMM-PING=fail"; fi
fi
if grep -q vmmtest.vsock=1 /proc/cmdline; then
  timeout 60 /bin/vsock-echo 1024 once
  /bin/vsock-echo client 1025 hello-from-guest
fi
if grep -q vmmtest.9p=1 /proc/cmdline; then
  if mount -t 9p -o trans=virtio,version=9p2000.L,msize=131072 kataShared /mnt; then
    echo "VMM-9P-READ=$(cat /mnt/from-host.txt)"
    echo "written-by-guest" >/mnt/from-guest.txt
    echo "VMM-9P-LS=$(ls /mnt | tr '\\n' ',')"
    mkdir /mnt/guest-dir && echo x >/mnt/guest-dir/f && echo "VMM-9P-MKDIR=$(ls /mnt/guest-dir)"
    rm /mnt/guest-dir/f && rmdir /mnt/guest-dir && [ ! -e /mnt/guest-dir ] && echo "VMM-9P-RMDIR=ok"
    dd if=/dev/zero of=/mnt/big bs=65536 count=16 2>/dev/null
    echo "VMM-9P-BIG=$(wc -c </mnt/big | tr -d ' ')"
    ln -s from-host.txt /mnt/link && echo "VMM-9P-LINK=$(cat /mnt/link)"
    sync
    umount /mnt && echo "VMM-9P-UMOUNT=ok"
  else
    echo "VMM-9P-MOUNT=fail"
    dmesg | tail -20
  fi
fi
hold=$(tr ' ' '\\n' </proc/cmdline | sed -n 's/^vmmtest.hold=//p')
if [ -n "$hold" ]; then sleep "$hold"; fi
echo "VMM-GUEST-DONE"
if grep -q vmmtest.poweroff=1 /proc/cmdline; then poweroff -f; fi
reboot -f
`;

/** Builds (once per content) an initrd with busybox, `modules` (and what they need) and `init`. */
export async function testInitrd(
  init = TEST_INIT,
  modules: readonly string[] = GUEST_MODULES,
): Promise<string> {
  const k = await kernelAssets();
  const stamp = await runScript(`(echo "${k.version} ${modules.join(" ")}"; cat <<'INIT_EOF'
${init}
INIT_EOF
echo '${VSOCK_ECHO_C.replaceAll("'", "")}') | sha256sum | cut -c1-12`);
  const out = `${CACHE}/initrd-${stamp.trim()}.cpio.gz`;
  if (exists(out)) return out;
  Deno.mkdirSync(CACHE, { recursive: true });
  const tree = await Deno.makeTempDir({ dir: CACHE, prefix: "initrd-tree-" });
  try {
    Deno.writeTextFileSync(`${tree}/init`, init, { mode: 0o755 });
    Deno.writeTextFileSync(`${tree}/vsock-echo.c`, VSOCK_ECHO_C);
    await runScript(`
      cd "${tree}" && mkdir -p bin && cp /bin/busybox bin/busybox
      gcc -static -O2 -o bin/vsock-echo vsock-echo.c && rm vsock-echo.c
      : >modules.order
      modprobe -d "${k.dir}" -S "${k.version}" --show-depends -a ${modules.join(" ")} |
        sed -n 's/^insmod \\([^ ]*\\).*/\\1/p' | while read -r p; do
          rel=\${p#"${k.dir}"/}
          grep -qxF "$rel" modules.order && continue
          mkdir -p "$(dirname "$rel")" && cp "$p" "$rel" && echo "$rel" >>modules.order
        done
      find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"${out}.tmp"
      mv "${out}.tmp" "${out}"
    `);
  } finally {
    Deno.removeSync(tree, { recursive: true });
  }
  return out;
}

/** A small disk image whose first bytes are `marker`. */
export function markerDisk(path: string, marker: string, sizeMib = 1): void {
  const data = new Uint8Array(sizeMib * 1024 * 1024);
  data.set(new TextEncoder().encode(marker));
  Deno.writeFileSync(path, data);
}

if (import.meta.main) {
  const k = await kernelAssets();
  console.log(JSON.stringify({ ...k, initrd: await testInitrd() }, null, 2));
}

/**
 * Makes sure /dev/kvm and tun exist: inside the test host they are loaded
 * from the cached kernel's modules when the host set-up has not done it.
 */
export async function ensureKvm(): Promise<void> {
  if (exists("/dev/kvm") && exists("/sys/module/tun")) return;
  const k = await kernelAssets();
  const cpu = Deno.readTextFileSync("/proc/cpuinfo");
  const kvm = / svm( |$)/m.test(cpu) ? "kvm_amd" : "kvm_intel";
  await runScript(`modprobe -d "${k.dir}" -S "${k.version}" -a kvm ${kvm} tun 2>/dev/null || true`);
  if (!exists("/dev/kvm")) {
    throw new Error("/dev/kvm is missing: run the VM tests inside scripts/testhost");
  }
}

/** Runs a command, failing with its output when it fails. */
export async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A network namespace holding tap `tap` with `hostAddr` (CIDR) on it; `close()` deletes it. */
export async function tapInNetns(tap: string, hostAddr: string) {
  const name = `vmmtest${Deno.pid}`;
  await run("ip", ["netns", "add", name]);
  try {
    await run("ip", ["-n", name, "link", "set", "lo", "up"]);
    await run("ip", ["-n", name, "tuntap", "add", "dev", tap, "mode", "tap"]);
    await run("ip", ["-n", name, "addr", "add", hostAddr, "dev", tap]);
    await run("ip", ["-n", name, "link", "set", tap, "up"]);
  } catch (e) {
    await run("ip", ["netns", "del", name]).catch(() => {});
    throw e;
  }
  return { path: `/run/netns/${name}`, close: () => run("ip", ["netns", "del", name]) };
}
