/**
 * The guest side of the shared-file-system benchmark (bench/sharefs.ts):
 * the workload its /init runs on the share, what it prints on the serial
 * console, and the parsing of that output on the host. The same initrd
 * boots in the built-in VMM (virtio-mmio: virtio-fs or 9p) and in QEMU
 * (virtio-pci: vhost-user-fs), so it carries both transports' modules.
 * @module
 */
import { GUEST_MODULES, INIT_MODULES, INIT_MOUNTS } from "../tests/vm/vmm_assets.ts";

/** Modules of the benchmark guest: the test initrd's, virtio-pci for QEMU and virtiofs. */
export const SHAREFS_MODULES: readonly string[] = [...GUEST_MODULES, "virtio_pci", "virtiofs"];

/** Mount tag of the share in every configuration. */
export const TAG = "bench";
/** Files created, stat'ed and removed one by one. */
export const SMALL_FILES = 2000;
/** The tree `find` walks: DIRS directories of FILES_PER_DIR files, 10,000 entries. */
export const TREE = { dirs: 100, filesPerDir: 99 } as const;
/** MiB written and read sequentially. */
export const BIG_MIB = 256;

/** The 9p mount options the shim gives the guest (resource/share_fs/share_fs.ts). */
const NINEP_OPTIONS = "trans=virtio,version=9p2000.L,cache=mmap,nodev,msize=512000";

/**
 * The guest's /init. `sharefs.fs=virtiofs|9p` on the kernel command line
 * picks the mount. Times come from /proc/uptime (10 ms steps; busybox's
 * date has no %N) read by the shell itself, so no process is forked per
 * file: `echo >f` creates, `[ -f ]` stats, one `rm` removes them all.
 * Each row prints `SHAREFS-ROW NAME START END CHECK` (centiseconds; CHECK
 * is a count or size the host verifies); a failure prints SHAREFS-ERROR.
 */
export const SHAREFS_INIT = `${INIT_MOUNTS}mkdir -p /tmp && mount -t tmpfs tmpfs /tmp
echo "VMM-GUEST-INIT"
${INIT_MODULES}fail() {
  echo "SHAREFS-ERROR $*"
  dmesg | tail -n 15
  reboot -f
}
fs=$(tr ' ' '\\n' </proc/cmdline | sed -n 's/^sharefs\\.fs=//p')
case "$fs" in
  9p) mount -t 9p -o ${NINEP_OPTIONS} ${TAG} /mnt ;;
  virtiofs) mount -t virtiofs ${TAG} /mnt ;;
  *) false ;;
esac || fail "mount of share ${TAG} as '$fs' failed"
echo "SHAREFS-MOUNT $(grep ' /mnt ' /proc/mounts)"
now() { read -r up _ </proc/uptime; T=\${up%.*}\${up#*.}; }
row() { echo "SHAREFS-ROW $1 $2 $T $3"; }
now; t0=$T
n=$(find /mnt/tree | wc -l) || fail "find failed"
now; row find $t0 $n
mkdir /mnt/small || fail "mkdir /mnt/small failed"
now; t0=$T
i=0
while [ $i -lt ${SMALL_FILES} ]; do echo x >/mnt/small/f$i || fail "create f$i failed"; i=$((i + 1)); done
now; row create $t0 $i
t0=$T; i=0; n=0
while [ $i -lt ${SMALL_FILES} ]; do [ -f /mnt/small/f$i ] && n=$((n + 1)); i=$((i + 1)); done
now; row stat $t0 $n
t0=$T
rm /mnt/small/f* || fail "rm failed"
now; row remove $t0 $(ls /mnt/small | wc -l)
now; t0=$T
dd if=/dev/zero of=/mnt/big bs=1M count=${BIG_MIB} conv=fsync 2>/tmp/dd.err || fail "dd write: $(cat /tmp/dd.err)"
now; row write $t0 $(stat -c %s /mnt/big)
sync
echo 3 >/proc/sys/vm/drop_caches
now; t0=$T
dd if=/mnt/big of=/dev/null bs=1M 2>/tmp/dd.err || fail "dd read: $(cat /tmp/dd.err)"
now; row read $t0 $(sed -n 's/+.* records in$//p' /tmp/dd.err)
cp /mnt/rootfs.tar /tmp/rootfs.tar || fail "copy of rootfs.tar failed"
mkdir /mnt/untar || fail "mkdir /mnt/untar failed"
now; t0=$T
tar -xf /tmp/rootfs.tar -C /mnt/untar || fail "untar failed"
now; row untar $t0 $(find /mnt/untar | wc -l)
umount /mnt || fail "umount failed"
echo "SHAREFS-DONE"
reboot -f
`;

/** One timed row as the guest printed it. */
export interface GuestRow {
  seconds: number;
  /** The count or size printed after the times. */
  check: number;
}

/**
 * The rows in a guest's console output. Throws with the guest's error (and
 * the output's tail) when it printed SHAREFS-ERROR or never finished.
 */
export function parseGuestRows(output: string): Map<string, GuestRow> {
  const text = output.replaceAll("\r", "");
  const error = /^SHAREFS-ERROR (.*)$/m.exec(text);
  if (error || !/^SHAREFS-DONE$/m.test(text)) {
    const why = error ? `failed: ${error[1]}` : "never finished";
    throw new Error(`Benchmark guest ${why}; its console ended:\n${text.slice(-1500)}`);
  }
  const rows = new Map<string, GuestRow>();
  for (const m of text.matchAll(/^SHAREFS-ROW (\w+) (\d+) (\d+) (\d+)$/gm)) {
    const start = Number(m[2]);
    const end = Number(m[3]);
    if (end < start) {
      throw new Error(`Benchmark row ${m[1]} ends (${end}) before it starts (${start})`);
    }
    rows.set(m[1], { seconds: (end - start) / 100, check: Number(m[4]) });
  }
  return rows;
}

/** What each row's check must be; `untarEntries` is the tar's entry count (its top folder added). */
export function expectedChecks(untarEntries: number): Record<string, number> {
  const big = BIG_MIB * 1024 * 1024;
  return {
    find: 1 + TREE.dirs * (1 + TREE.filesPerDir),
    create: SMALL_FILES,
    stat: SMALL_FILES,
    remove: 0,
    write: big,
    // Whole 1 MiB records dd read (busybox's dd prints no byte count).
    read: BIG_MIB,
    untar: untarEntries + 1,
  };
}

/** Seconds per row of one run, every row present and its check as expected. */
export function checkedRun(
  rows: Map<string, GuestRow>,
  expected: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, want] of Object.entries(expected)) {
    const row = rows.get(name);
    if (!row) throw new Error(`Benchmark guest printed no ${name} row`);
    if (row.check !== want) {
      throw new Error(`Benchmark row ${name} checked ${row.check}, expected ${want}`);
    }
    out[name] = row.seconds;
  }
  return out;
}
