/**
 * `deno task bench [NAME...]`: runs the benchmarks side by side with their
 * peers and writes one table per benchmark to `bench/results/<name>.md`, plus
 * `bench/results/summary.md` with the machine and date. Each benchmark module
 * exports `run(): Promise<string>` returning its markdown table.
 * @module
 */

/** The benchmarks, in run order, with the peer each is compared with. */
export const BENCHMARKS: Record<string, { module: string; peer: string }> = {
  startup: {
    module: "./startup.ts",
    peer: "bare Deno (start-up per action; footprint.md: idle memory)",
  },
  ttrpc: { module: "./ttrpc.ts", peer: "Go containerd/ttrpc" },
  shim: { module: "./shim.ts", peer: "containerd-shim-runc-v2" },
  vmm: { module: "./vmm.ts", peer: "QEMU -accel kvm (inside the test host)" },
  net: { module: "./net.ts", peer: "iproute2 ip/tc" },
  sharefs: { module: "./sharefs.ts", peer: "QEMU + Debian's virtiofsd" },
  "guest-boot": { module: "./guest_boot.ts", peer: "none (the VM group's agent test measures it)" },
};

const RESULTS = new URL("./results/", import.meta.url).pathname;

async function machine(): Promise<string> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  const mem = Math.round(Deno.systemMemoryInfo().total / 2 ** 30);
  return `${navigator.hardwareConcurrency} cores (${cpu ?? "unknown CPU"}), ${mem} GiB, ` +
    `Deno ${Deno.version.deno}, kvm: ${await Deno.stat("/dev/kvm").then(() => "yes", () => "no")}`;
}

if (import.meta.main) {
  // As the shim's launcher and `start` do: no Deno update check in any Deno measured here.
  Deno.env.set("DENO_NO_UPDATE_CHECK", "1");
  const wanted = Deno.args.length ? Deno.args : Object.keys(BENCHMARKS);
  await Deno.mkdir(RESULTS, { recursive: true });
  const lines = [
    "# Benchmark run",
    "",
    `Date: ${new Date().toISOString()}  `,
    `Machine: ${await machine()}`,
    "",
  ];
  let failed = 0;
  for (const name of wanted) {
    const b = BENCHMARKS[name];
    if (!b) {
      console.error(`unknown benchmark ${JSON.stringify(name)} (have ${Object.keys(BENCHMARKS)})`);
      Deno.exit(2);
    }
    console.log(`== ${name} (vs ${b.peer})`);
    try {
      const mod = await import(b.module) as { run(): Promise<string> };
      const table = await mod.run();
      await Deno.writeTextFile(`${RESULTS}${name}.md`, table.endsWith("\n") ? table : table + "\n");
      lines.push(`## ${name} (vs ${b.peer})`, "", table, "");
      console.log(table);
    } catch (e) {
      failed++;
      const msg = e instanceof Error ? e.message : String(e);
      lines.push(`## ${name} (vs ${b.peer})`, "", `Not measured: ${msg}`, "");
      console.error(`${name}: not measured: ${msg}`);
    }
  }
  // Benchmarks not run this time keep their last table in the summary, marked as such.
  for (const [name, b] of Object.entries(BENCHMARKS)) {
    if (wanted.includes(name)) continue;
    const table = await Deno.readTextFile(`${RESULTS}${name}.md`).catch(() => undefined);
    if (!table?.trim()) continue;
    lines.push(`## ${name} (vs ${b.peer}): not run this time, its last table`, "", table, "");
  }
  await Deno.writeTextFile(`${RESULTS}summary.md`, lines.join("\n"));
  Deno.exit(failed ? 1 : 0);
}
