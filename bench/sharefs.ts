/**
 * Shared file systems: the same guest workload (bench/sharefs_guest.ts) on
 * a share of the same host directory kind, over (a) inline virtio-fs in the
 * built-in VMM, (b) 9p in the built-in VMM, both through the `vmm` command,
 * and (c) QEMU -accel kvm with Debian's C virtiofsd (vhost-user-fs-pci on a
 * shared memfd backend). Every run gets a fresh share on tmpfs holding the
 * `find` tree and a busybox rootfs tarball. Needs usable KVM, so on machines
 * without it the whole measurement runs inside scripts/testhost.
 * @module
 */
import { kernelAssets, testInitrd } from "../tests/vm/vmm_assets.ts";
import { runScript } from "../tests/command.ts";
import { exists } from "../common/fs.ts";
import {
  BIG_MIB,
  checkedRun,
  expectedChecks,
  parseGuestRows,
  SHAREFS_INIT,
  SHAREFS_MODULES,
  SMALL_FILES,
  TAG,
  TREE,
} from "./sharefs_guest.ts";
import { type Figures, sharefsTable } from "./sharefs_table.ts";
import { qemuArgs } from "./vmm.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
const ROOTFS_TAR = `${ROOT}/.cache/vmm/busybox-rootfs.tar`;
/** Runs per configuration (SHAREFS_RUNS overrides: fewer when time is short). */
const RUNS = Number(Deno.env.get("SHAREFS_RUNS") ?? 3);
const MEMORY_MIB = 512;
const CMDLINE = "console=ttyS0 reboot=k panic=1 quiet";
/** One VM's limit: the nested host is slow and shares its 2 cores. */
const VM_TIMEOUT_MS = 1_200_000;
/** `virtio_fs_cache` for both virtio-fs columns: the shipped configuration's. */
const CACHE = "auto";

/** The three configurations, in the table's column order. */
const CONFIGS = ["inline", "9p", "qemu"] as const;
type Config = typeof CONFIGS[number];
/**
 * SHAREFS_CONFIGS (comma-separated) measures only some columns, for a
 * before/after check of one of them; the table then says the rest was not measured.
 */
const MEASURED = (Deno.env.get("SHAREFS_CONFIGS") ?? CONFIGS.join(",")).split(",");
for (const c of MEASURED) {
  if (!(CONFIGS as readonly string[]).includes(c)) {
    throw new Error(`SHAREFS_CONFIGS names ${JSON.stringify(c)}, not one of ${CONFIGS.join(", ")}`);
  }
}

/** Builds (once) a busybox rootfs tarball: the static busybox and its applet links. */
async function rootfsTar(): Promise<{ path: string; entries: number }> {
  if (!exists(ROOTFS_TAR)) {
    await runScript(`
      set -e
      t=$(mktemp -d)
      mkdir -p "$t/bin" "$t/sbin" "$t/usr/bin" "$t/usr/sbin" "$t/etc" "$t/dev" "$t/proc" "$t/sys" "$t/tmp" "$t/root"
      cp /bin/busybox "$t/bin/busybox"
      for a in $(/bin/busybox --list-full); do
        [ "$a" = bin/busybox ] || [ -e "$t/$a" ] || ln -s /bin/busybox "$t/$a"
      done
      echo 'root:x:0:0:root:/root:/bin/sh' >"$t/etc/passwd"
      echo 'root:x:0:' >"$t/etc/group"
      tar --numeric-owner --owner=0 --group=0 -C "$t" -cf "${ROOTFS_TAR}.tmp" bin sbin usr etc dev proc sys tmp root
      rm -rf "$t"
      mv "${ROOTFS_TAR}.tmp" "${ROOTFS_TAR}"
    `);
  }
  const list = await runScript(`tar -tf "${ROOTFS_TAR}" | wc -l`);
  return { path: ROOTFS_TAR, entries: Number(list.trim()) };
}

/** A fresh share: the `find` tree and the rootfs tarball. */
async function makeShare(tar: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "sharefs-bench-" });
  for (let d = 0; d < TREE.dirs; d++) {
    const sub = `${dir}/tree/d${d}`;
    Deno.mkdirSync(sub, { recursive: true });
    for (let f = 0; f < TREE.filesPerDir; f++) Deno.writeFileSync(`${sub}/f${f}`, new Uint8Array());
  }
  await Deno.copyFile(tar, `${dir}/rootfs.tar`);
  return dir;
}

/**
 * Spawns `cmd` and returns its stdout (the guest console) when it exits;
 * the benchmark's own lines go to stderr as they come (progress).
 */
async function consoleOf(cmd: string, args: string[]): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // The built-in VMM's exit counts by kind, shown below: the per-request cost's main part.
    env: { DRAGONBALL_EXIT_STATS: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), VM_TIMEOUT_MS);
  const errors = new Response(child.stderr).text();
  let text = "";
  let shown = 0;
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk, { stream: true });
    const end = text.lastIndexOf("\n");
    if (end > shown) {
      for (const line of text.slice(shown, end).split("\n")) {
        if (line.startsWith("SHAREFS-")) console.error(`sharefs: ${line.trim()}`);
      }
      shown = end;
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  const exits = /^vmm: exits .*$/m.exec(await errors);
  if (exits) console.error(`sharefs: ${exits[0]}`);
  if (!status.success && !text.includes("SHAREFS-DONE")) {
    throw new Error(
      `${cmd} exited ${status.code}: ${(await errors).slice(-1500)}\n${text.slice(-1500)}`,
    );
  }
  await errors;
  return text;
}

/**
 * Open files of the VMM as containerd gives its shims (LimitNOFILE=1048576):
 * the inline server sizes its inode table by it (a test host's init leaves
 * 1024, too few for a 10,000-entry tree), and virtiofsd raises its own
 * limit to this by default.
 */
const NOFILE = "--nofile=1048576:1048576";

/** The built-in VMM through its `vmm` command, the share as inline virtio-fs or 9p. */
function builtIn(kernel: string, initrd: string, share: string, fs: "virtiofs" | "9p") {
  return consoleOf("prlimit", [
    NOFILE,
    Deno.execPath(),
    "run",
    "-A",
    `${ROOT}/main.ts`,
    "vmm",
    "--kernel",
    kernel,
    "--initrd",
    initrd,
    "--memory",
    String(MEMORY_MIB),
    "--cmdline",
    `${CMDLINE} pci=off sharefs.fs=${fs}`,
    ...(fs === "virtiofs"
      ? ["--virtiofs", `${TAG}=${share},cache=${CACHE}`]
      : ["--share", `${TAG}=${share}`]),
  ]);
}

/** QEMU with Debian's virtiofsd serving the share over vhost-user. */
async function qemu(kernel: string, initrd: string, share: string): Promise<string> {
  const sock = `${share}.sock`;
  const daemon = new Deno.Command(VIRTIOFSD, {
    args: [`--socket-path=${sock}`, "-o", `source=${share}`, "-o", `cache=${CACHE}`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(daemon.stderr).text();
  try {
    for (let i = 0; i < 200 && !exists(sock); i++) await new Promise((r) => setTimeout(r, 50));
    if (!exists(sock)) throw new Error(`virtiofsd made no socket ${sock}: ${await stderr}`);
    return await consoleOf("qemu-system-x86_64", [
      ...qemuArgs(MEMORY_MIB),
      // vhost-user needs guest RAM that virtiofsd can map: a shared memfd as the NUMA node's memory.
      "-object",
      `memory-backend-memfd,id=mem,size=${MEMORY_MIB}M,share=on`,
      "-numa",
      "node,memdev=mem",
      "-chardev",
      `socket,id=vfs,path=${sock}`,
      "-device",
      `vhost-user-fs-pci,chardev=vfs,tag=${TAG},queue-size=1024`,
      "-kernel",
      kernel,
      "-initrd",
      initrd,
      "-append",
      `${CMDLINE} sharefs.fs=virtiofs`,
    ]);
  } finally {
    // virtiofsd ends when QEMU disconnects; one that did not is the child we spawned.
    const ended = await Promise.race([
      daemon.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!ended) {
      daemon.kill("SIGKILL");
      await daemon.status;
    }
    await stderr;
    await Deno.remove(sock).catch(() => {});
  }
}

async function measure(): Promise<string> {
  const k = await kernelAssets();
  const initrd = await testInitrd(SHAREFS_INIT, SHAREFS_MODULES);
  const tar = await rootfsTar();
  const expected = expectedChecks(tar.entries);
  const runs: Record<Config, Record<string, number>[]> = { inline: [], "9p": [], qemu: [] };
  const failures: string[] = [];
  const load: string[] = [Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ")];
  for (let i = 0; i < RUNS; i++) {
    for (const config of CONFIGS.filter((c) => MEASURED.includes(c))) {
      const share = await makeShare(tar.path);
      try {
        const out = config === "qemu"
          ? await qemu(k.vmlinux, initrd, share)
          : await builtIn(k.vmlinux, initrd, share, config === "inline" ? "virtiofs" : "9p");
        runs[config].push(checkedRun(parseGuestRows(out), expected));
        console.error(`sharefs: run ${i + 1} ${config}: ${JSON.stringify(runs[config].at(-1))}`);
      } catch (e) {
        // One failed run is reported in the table; the other columns still get measured.
        const why = e instanceof Error ? e.message : String(e);
        failures.push(`run ${i + 1} of ${config}: ${why.split("\n")[0]}`);
        console.error(`sharefs: run ${i + 1} ${config} failed: ${why}`);
      } finally {
        // A plain temporary folder on tmpfs that nothing was mounted on.
        await Deno.remove(share, { recursive: true });
      }
    }
  }
  load.push(Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" "));
  const figures: Figures = {
    kernel: k.version,
    memoryMib: MEMORY_MIB,
    smallFiles: SMALL_FILES,
    treeEntries: expected.find - 1,
    bigMib: BIG_MIB,
    untarEntries: tar.entries,
    cache: CACHE,
    load,
    runs,
    failures,
  };
  return sharefsTable(figures);
}

/** KVM that can run guests here: /dev/kvm and hardware virtualization in the CPU flags. */
function kvmUsable(): boolean {
  return exists("/dev/kvm") && /\b(svm|vmx)\b/.test(Deno.readTextFileSync("/proc/cpuinfo"));
}

/** The benchmark table (markdown); runs inside the test host when KVM is not usable here. */
export async function run(): Promise<string> {
  if (kvmUsable()) return await measure();
  // Built here, where a compiler runs at full speed, and found in the cache inside.
  await testInitrd(SHAREFS_INIT, SHAREFS_MODULES);
  await rootfsTar();
  const before = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const child = new Deno.Command(`${ROOT}/scripts/testhost`, {
    args: [Deno.execPath(), "run", "-A", `${ROOT}/bench/sharefs.ts`],
    stdout: "piped",
    stderr: "inherit",
    env: {
      TESTHOST_TIMEOUT: "7200",
      SHAREFS_RUNS: String(RUNS),
      SHAREFS_CONFIGS: MEASURED.join(","),
    },
  }).spawn();
  const text = await new Response(child.stdout).text();
  const status = await child.status;
  const after = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  if (!status.success) throw new Error(`benchmark in the test host failed (exit ${status.code})`);
  return text +
    `\nLoad average of the machine (outside the test host) before and after: ${before}; ${after}.\n`;
}

if (import.meta.main) {
  const { ensureKvm } = await import("../tests/vm/vmm_assets.ts");
  await ensureKvm();
  console.log(await measure());
}
