/**
 * Repeatability check of the built-in VMM's SMP bring-up: boots Debian's
 * vmlinux with 2 vCPUs N times in a row (default 50) in this process and
 * checks every time that the kernel brought up both CPUs ("smp: Brought up
 * 1 node, 2 CPUs" in dmesg, and `nproc` = 2 in the guest's init).
 *
 * Too long for the regular VM group (several seconds per boot under the test
 * host's emulation), so it is run explicitly, where KVM is unusable inside
 * the test host:
 *
 *   scripts/deno run -A tests/vm/smp_boots.ts --prepare   # assets, on the outer host
 *   scripts/testhost scripts/deno run -A tests/vm/smp_boots.ts [BOOTS]
 *
 * Each boot is bounded (BOOT_DEADLINE_MS); a boot that does not finish is
 * stopped and reported with its console tail and the VMM's exit counts, and
 * the loop goes on. Ends with one line per outcome and exits 1 if any boot
 * failed. Also checks that the boots leak no file descriptors.
 * @module
 */
import { Vm } from "../../hypervisor/dragonball/vm.ts";
import { mapImageFile } from "../../hypervisor/dragonball/image_file.ts";
import { ensureKvm, kernelAssets, testInitrd } from "./vmm_assets.ts";
import { tail } from "./deadline.ts";

const BOOT_DEADLINE_MS = 120_000;
const SMP_LINE = "smp: Brought up 1 node, 2 CPUs";

/** A guest init that reports the CPUs and powers off at once (no modules). */
const SMP_INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc
/bin/busybox mount -t proc proc /proc
echo "SMP-NPROC=$(/bin/busybox nproc)"
echo "SMP-DMESG=$(/bin/busybox dmesg | /bin/busybox grep -o 'smp: Brought up.*')"
/bin/busybox poweroff -f
`;

interface BootResult {
  ok: boolean;
  /** Both CPUs came up (the kernel's smp line or nproc 2 reached the console). */
  cpusUp: boolean;
  ms: number;
  why: string;
}

async function bootOnce(kernelPath: string, initrdPath: string): Promise<BootResult> {
  let out = "";
  const start = performance.now();
  const kernel = mapImageFile("kernel", kernelPath);
  const initrd = mapImageFile("initrd", initrdPath);
  let vm: Vm;
  try {
    vm = await Vm.create({
      kernel: kernel.bytes,
      initrd: initrd.bytes,
      cmdline: "console=ttyS0 reboot=k panic=1 pci=off quiet",
      memoryMib: 128,
      vcpus: 2,
      console: (d) => out += new TextDecoder().decode(d),
    });
  } finally {
    kernel.close();
    initrd.close();
  }
  await vm.start();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    vm.stop();
  }, BOOT_DEADLINE_MS);
  const exit = await vm.wait();
  clearTimeout(timer);
  const ms = performance.now() - start;
  const nproc = out.match(/SMP-NPROC=(\d+)/)?.[1];
  const ok = !timedOut && exit.kind === "shutdown" && nproc === "2" && out.includes(SMP_LINE);
  // Apart from `ok`: a line garbled on the console is a serial defect, not a CPU left down.
  const cpusUp = nproc === "2" || out.includes(SMP_LINE);
  const why = ok ? "" : [
    timedOut
      ? `no power-off within ${BOOT_DEADLINE_MS / 1000} s`
      : `ended: ${JSON.stringify(exit)}`,
    `nproc ${nproc ?? "never printed"}`,
    out.includes(SMP_LINE) ? "smp line seen" : "smp line missing",
    `exits ${JSON.stringify(Object.fromEntries(vm.exitCounts))}`,
    ...vm.vcpuReport(),
    `console tail:\n${tail(out, 2000)}`,
  ].join("; ");
  return { ok, cpusUp, ms, why };
}

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

if (import.meta.main && Deno.args[0] === "--prepare") {
  // gcc and cpio run here, on the outer host, not under the test host's emulation.
  await kernelAssets();
  console.log(await testInitrd(SMP_INIT));
} else if (import.meta.main) {
  const boots = Number(Deno.args[0] ?? 50);
  if (!Number.isInteger(boots) || boots < 1) {
    throw new Error(`Boot count ${Deno.args[0]} is invalid`);
  }
  await ensureKvm();
  const k = await kernelAssets();
  const initrd = await testInitrd(SMP_INIT);
  const results: BootResult[] = [];
  let fdsBefore = openFds();
  const started = performance.now();
  for (let i = 1; i <= boots; i++) {
    const r = await bootOnce(k.vmlinux, initrd);
    results.push(r);
    if (i === 1) fdsBefore = openFds(); // after one boot: Deno's and libc's one-time opens are done
    console.log(
      `boot ${i}/${boots}: ${
        r.ok ? "2 CPUs up" : r.cpusUp ? "2 CPUs up, console garbled" : "FAILED"
      } in ${(r.ms / 1000).toFixed(1)} s`,
    );
    if (!r.ok) console.log(`  ${r.why}`);
  }
  const fdsAfter = openFds();
  const failed = results.filter((r) => !r.ok).length;
  const down = results.filter((r) => !r.cpusUp).length;
  const times = results.map((r) => r.ms / 1000).sort((a, b) => a - b);
  console.log(
    `smp_boots: ${boots - down} of ${boots} boots brought up both vCPUs, ` +
      `${boots - failed} of them with an intact console; ` +
      `per boot min ${times[0].toFixed(1)} s, median ${
        times[Math.floor(times.length / 2)].toFixed(1)
      } s, max ${times.at(-1)!.toFixed(1)} s; all ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s; open fds ${fdsBefore} after the first boot, ${fdsAfter} after the last`,
  );
  Deno.exit(failed > 0 || fdsAfter > fdsBefore ? 1 : 0);
}
