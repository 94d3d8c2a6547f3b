import { assert, assertEquals } from "../tests/assert.ts";
import { monitorSocketPath, startMonitorServer } from "../runtimes/monitor/server.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const DENO = new URL("../scripts/deno", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const o = await new Deno.Command(DENO, {
    args: ["run", "-A", "--no-check", MAIN, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

Deno.test("the command line explains itself: -h, shim-ctl and every subcommand's --help exit 0", async () => {
  const top = await run(["-h"]);
  assertEquals(top.code, 0);
  for (const a of ["start", "delete", "env", "check", "shim-ctl", "vmm"]) {
    assert(new RegExp(`^  ${a}\\s+\\S`, "m").test(top.out), `-h describes ${a}`);
  }
  for (const args of [[], ["-h"], ["--help"]]) {
    const r = await run(["shim-ctl", ...args]);
    assertEquals(r.code, 0, `shim-ctl ${args.join(" ")}: ${r.err}`);
    for (const s of ["run", "net", "metrics", "factory", "direct-volume"]) {
      assert(r.out.includes(`  ${s} `));
    }
  }
  for (
    const args of [
      ["shim-ctl", "run", "--help"],
      ["shim-ctl", "net", "--help"],
      ["shim-ctl", "metrics", "--help"],
      ["shim-ctl", "direct-volume", "--help"],
      ["shim-ctl", "factory", "--help"],
      ["shim-ctl", "factory", "init", "--help"],
      ["shim-ctl", "direct-volume", "add", "--help"],
      ["env", "--help"],
      ["check", "--help"],
    ]
  ) {
    const r = await run(args);
    assertEquals(r.code, 0, `${args.join(" ")}: ${r.err}`);
    assert(r.out.startsWith("Usage: "), `${args.join(" ")} prints its usage`);
    assertEquals(r.err, "");
  }
  assertEquals((await run(["shim-ctl", "bogus"])).code, 2);
  assertEquals((await run(["shim-ctl", "factory", "bogus"])).code, 2);
});

Deno.test("shim-ctl metrics and direct-volume talk to the management socket and the mount-info root", async () => {
  const root = await Deno.makeTempDir();
  const dv = `${root}/dv`;
  await Deno.mkdir(`${root}/sb1`);
  const calls: string[] = [];
  const srv = startMonitorServer(monitorSocketPath(`${root}/sb1`), {
    metrics: () => Promise.resolve("# TYPE kata_shim_threads gauge\nkata_shim_threads 3\n"),
    agentUrl: () => "vsock://3:1024",
    volumeStats: (p) => {
      calls.push(`stats ${p}`);
      return Promise.resolve({ usage: [{ total: 10, used: 4, available: 6, unit: "BYTES" }] });
    },
    resizeVolume: (p, n) => {
      calls.push(`resize ${p} ${n}`);
      return Promise.resolve();
    },
  });
  const env = { KATA_PERSIST_ROOT: root, KATA_DIRECT_VOLUME_ROOT: dv };
  try {
    const m = await run(["shim-ctl", "metrics", "--sandbox", "sb1"], env);
    assertEquals(m.code, 0, m.err);
    assertEquals(m.out, "# TYPE kata_shim_threads gauge\nkata_shim_threads 3\n");
    assertEquals((await run(["shim-ctl", "metrics", "--sandbox", "nope"], env)).code, 1);
    const info = '{"device":"/dev/loop7","fs_type":"ext4","metadata":{"sandbox_id":"sb1"}}';
    const add = await run(
      ["shim-ctl", "direct-volume", "add", "--volume-path", "/pv/a", "--mount-info", info],
      env,
    );
    assertEquals(add.code, 0, add.err);
    assertEquals(JSON.parse(await Deno.readTextFile(add.out.trim())).device, "/dev/loop7");
    const st = await run(["shim-ctl", "direct-volume", "stats", "--volume-path", "/pv/a"], env);
    assertEquals(st.code, 0, st.err);
    assertEquals(JSON.parse(st.out).usage[0].used, 4);
    const rs = await run(
      ["shim-ctl", "direct-volume", "resize", "--volume-path", "/pv/a", "--size", "4096"],
      env,
    );
    assertEquals(rs.code, 0, rs.err);
    assertEquals(calls, ["stats /pv/a", "resize /pv/a 4096"]);
    assertEquals(
      (await run(["shim-ctl", "direct-volume", "remove", "--volume-path", "/pv/a"], env)).code,
      0,
    );
    assertEquals([...Deno.readDirSync(dv)].length, 0);
    const again = await run(["shim-ctl", "direct-volume", "stats", "--volume-path", "/pv/a"], env);
    assertEquals(again.code, 1);
    assert(again.err.includes("not added"), again.err);
  } finally {
    await srv.close();
    await Deno.remove(root, { recursive: true });
  }
});
