/**
 * Built-in VMM vs QEMU (`-accel kvm`): time from VM creation to the guest's
 * init marker with the same kernel (Debian's vmlinux), initrd and memory, and
 * the VMM's own resident memory beyond guest RAM. Needs /dev/kvm, so on
 * machines without it the whole measurement runs inside scripts/testhost.
 * @module
 */
import { kernelAssets, testInitrd } from "../tests/vm/vmm_assets.ts";
import { Vm } from "../hypervisor/dragonball/vm.ts";
import { mapImageFile } from "../hypervisor/dragonball/image_file.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const RUNS = 2;
const MEMORY_MIB = 256;
const CMDLINE = "console=ttyS0 reboot=k panic=1 pci=off quiet";
const MARKER = "VMM-GUEST-INIT";
const TIMEOUT_MS = 300_000;

interface Sample {
  ms: number;
  /** VmRSS minus the resident part of guest RAM, in MiB. */
  ownRssMib?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** VmRSS minus the resident size of the guest-RAM mapping (the one of exactly MEMORY_MIB). */
function ownRss(pid: number): number | undefined {
  try {
    const smaps = Deno.readTextFileSync(`/proc/${pid}/smaps`);
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    let guest = 0;
    for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
      const size = Number(/\nSize:\s+(\d+) kB/.exec(block)?.[1]);
      if (size === MEMORY_MIB * 1024) guest += Number(/\nRss:\s+(\d+) kB/.exec(block)?.[1] ?? 0);
    }
    return (rss - guest) / 1024;
  } catch {
    return undefined;
  }
}

/** QEMU with KVM, `memoryMib` and 1 vCPU, no default devices, the serial console on stdio. */
export function qemuArgs(memoryMib: number): string[] {
  return [
    ...["-accel", "kvm", "-cpu", "host", "-m", String(memoryMib), "-smp", "1"],
    ...["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"],
  ];
}

/** Spawns `cmd`, returning the time until MARKER appears on stdout and the own RSS then. */
async function timeProcess(cmd: string, args: string[]): Promise<Sample> {
  const start = performance.now();
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", stdin: "null" })
    .spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  let out = "";
  let sample: Sample | undefined;
  for await (const chunk of child.stdout) {
    out += new TextDecoder().decode(chunk);
    if (!sample && out.includes(MARKER)) {
      sample = { ms: performance.now() - start, ownRssMib: ownRss(child.pid) };
    }
  }
  clearTimeout(timer);
  await child.status;
  if (!sample) throw new Error(`${cmd} never printed ${MARKER}:\n${out.slice(-2000)}`);
  return sample;
}

/** Boots in this process: from Vm.create to the marker on the serial console. */
async function timeInProcess(
  kernelPath: string,
  initrdPath: string,
): Promise<{ total: number; create: number }> {
  let out = "";
  let seen!: () => void;
  const marker = new Promise<void>((r) => seen = r);
  const start = performance.now();
  const kernel = mapImageFile("kernel", kernelPath);
  const initrd = mapImageFile("initrd", initrdPath);
  const vm = await Vm.create({
    kernel: kernel.bytes,
    initrd: initrd.bytes,
    cmdline: CMDLINE,
    memoryMib: MEMORY_MIB,
    vcpus: 1,
    console: (d) => {
      out += new TextDecoder().decode(d);
      if (out.includes(MARKER)) seen();
    },
  });
  kernel.close();
  initrd.close();
  const create = performance.now() - start;
  await vm.start();
  const timeout = setTimeout(() => vm.stop(), TIMEOUT_MS);
  await Promise.race([marker, vm.wait()]);
  const ms = performance.now() - start;
  await vm.stop();
  clearTimeout(timeout);
  if (!out.includes(MARKER)) {
    throw new Error(`in-process VM never printed ${MARKER}:\n${out.slice(-2000)}`);
  }
  return { total: ms, create };
}

async function measure(): Promise<string> {
  const k = await kernelAssets();
  const initrd = await testInitrd();
  const inProc: { total: number; create: number }[] = [];
  const cli: Sample[] = [];
  const qemu: Sample[] = [];
  const hold = `${CMDLINE} vmmtest.hold=2`;
  for (let i = 0; i < RUNS; i++) {
    inProc.push(await timeInProcess(k.vmlinux, initrd));
    cli.push(
      await timeProcess(Deno.execPath(), [
        "run",
        "-A",
        `${ROOT}/main.ts`,
        "vmm",
        "--kernel",
        k.vmlinux,
        "--initrd",
        initrd,
        "--memory",
        String(MEMORY_MIB),
        "--cmdline",
        hold,
      ]),
    );
    qemu.push(
      await timeProcess("qemu-system-x86_64", [
        ...qemuArgs(MEMORY_MIB),
        "-kernel",
        k.vmlinux,
        "-initrd",
        initrd,
        "-append",
        hold,
      ]),
    );
  }
  const ms = (xs: number[]) => `${(median(xs) / 1000).toFixed(2)} s`;
  const rss = (xs: Sample[]) => {
    const v = xs.map((s) => s.ownRssMib).filter((x): x is number => x !== undefined);
    return v.length ? `${median(v).toFixed(0)} MiB` : "n/a";
  };
  return [
    `Boot of Debian's vmlinux (${k.version}) with the test initrd, ${MEMORY_MIB} MiB, 1 vCPU; median of ${RUNS} runs.`,
    "Measured inside the nested KVM test host (itself under TCG), so absolute times are much slower than on",
    "bare metal; compare the columns with each other.",
    "",
    "| | built-in VMM (in-process, Vm.create → init) | built-in VMM (`vmm` command, spawn → init) | QEMU -accel kvm (spawn → init) |",
    "|---|---|---|---|",
    `| time to guest init marker | ${ms(inProc.map((x) => x.total))} (of which Vm.create ${
      ms(inProc.map((x) => x.create))
    }) | ${ms(cli.map((s) => s.ms))} | ${ms(qemu.map((s) => s.ms))} |`,
    `| VMM RSS beyond guest RAM | | ${rss(cli)} | ${rss(qemu)} |`,
    "",
  ].join("\n");
}

/** The benchmark table (markdown); runs inside the test host when /dev/kvm is absent. */
export async function run(): Promise<string> {
  const hasKvm = await Deno.stat("/dev/kvm").then(() => true, () => false);
  if (hasKvm) return await measure();
  const out = await new Deno.Command(`${ROOT}/scripts/testhost`, {
    args: [Deno.execPath(), "run", "-A", `${ROOT}/bench/vmm.ts`],
    stdout: "piped",
    stderr: "piped",
    env: { TESTHOST_TIMEOUT: "1800" },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `benchmark in the test host failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return text;
}

if (import.meta.main) {
  const { ensureKvm } = await import("../tests/vm/vmm_assets.ts");
  await ensureKvm();
  const table = await measure();
  console.log(table);
  await Deno.writeTextFile(`${ROOT}/bench/results/vmm.md`, table).catch(() => {});
}
