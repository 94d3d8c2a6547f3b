import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import {
  CallLog,
  RecordingAgent,
  RecordingHypervisor,
  RecordingNetwork,
} from "../../tests/virt_container/doubles.ts";
import { StateStore } from "../../persist/state_store.ts";
import { UnavailableError } from "../../common/errors.ts";
import { mountsUnder } from "../../persist/remove_tree.ts";
import { identify } from "../../persist/process_identity.ts";
import { mount, unmount } from "../../ffi/mount.ts";
import { SharedLayout } from "../../resource/share_fs/layout.ts";
import { ShareFs } from "../../resource/share_fs/share_fs.ts";
import type { VmExit } from "../../hypervisor/hypervisor.ts";
import type { OciHook } from "./hooks.ts";
import { type SandboxParts, START_STEPS, type StartStep, VirtSandbox } from "./sandbox.ts";
import { needs } from "../../tests/tier.ts";

interface Rig {
  log: CallLog;
  hv: RecordingHypervisor;
  agent: RecordingAgent;
  root: string;
  steps: StartStep[];
  vmExits: VmExit[];
  sandbox: VirtSandbox;
  hookKinds: string[];
}

function rig(opts: { hooks?: boolean; network?: boolean; netHotplug?: boolean } = {}): Rig {
  const log = new CallLog();
  const hv = new RecordingHypervisor(log, { netHotplug: opts.netHotplug ?? true });
  const agent = new RecordingAgent(log);
  const root = Deno.makeTempDirSync({ prefix: "virt-sandbox-" });
  const steps: StartStep[] = [];
  const vmExits: VmExit[] = [];
  const hookKinds: string[] = [];
  const hook: OciHook = { path: "/bin/true" };
  const parts: SandboxParts = {
    id: "sb1",
    bundle: "/bundle",
    spec: opts.hooks ? { hooks: { prestart: [hook], createRuntime: [hook] } } : {},
    netnsPath: opts.network ? "/run/netns/test" : undefined,
    annotations: {},
    hostname: "pod",
    dns: ["nameserver 10.0.0.1"],
    hypervisor: hv,
    shareFs: new ShareFs(new SharedLayout(`${root}/sb1`), "virtio-9p"),
    network: opts.network ? new RecordingNetwork(log) : undefined,
    dialAgent: () => {
      log.record("agent.dial");
      return Promise.resolve(agent.api());
    },
    store: new StateStore({ root }),
    agent: {
      dialTimeoutMs: 10,
      reconnectTimeoutMs: 3000,
      healthCheckTimeoutMs: 1000,
      kernelModules: [],
    },
    runHooks: (_hooks, state, kind) => {
      log.record(`hooks.${kind}`);
      hookKinds.push(`${kind}:${state.pid}`);
      return Promise.resolve();
    },
    sleep: () => Promise.resolve(),
    onStep: (s) => steps.push(s),
  };
  const sandbox = new VirtSandbox(parts, {
    onVmExit: (e) => vmExits.push(e),
    onOom: () => {},
  });
  return { log, hv, agent, root, steps, vmExits, sandbox, hookKinds };
}

Deno.test("sandbox start runs every step in upstream's order (recording doubles of Hypervisor and agent)", async () => {
  const r = rig({ hooks: true, network: true });
  try {
    await r.sandbox.start();
    assertEquals(r.steps, [...START_STEPS]);
    assertEquals(r.log.calls, [
      "hv.prepareVm",
      "hv.addDevice:share_fs",
      "net.attach:prepared",
      "net.flushQueued",
      "hv.startVm",
      "hooks.prestart",
      "hooks.createRuntime",
      "net.attach:started",
      "net.flushQueued",
      "hv.bootVm",
      "agent.dial",
      "agent.updateInterface",
      "agent.updateRoutes",
      "agent.createSandbox",
      "agent.getGuestDetails",
    ]);
    assertEquals(r.hookKinds, ["prestart:4242", "createRuntime:4242"]);
    const cs = r.agent.requests.find((x) => x.method === "createSandbox")!.req as {
      hostname: string;
      dns: string[];
      storages: { driver: string; source: string; mountPoint: string }[];
      sandboxId: string;
    };
    assertEquals(cs.hostname, "pod");
    assertEquals(cs.dns, ["nameserver 10.0.0.1"]);
    assertEquals(cs.sandboxId, "sb1");
    assertEquals(cs.storages.map((s) => [s.driver, s.source, s.mountPoint]), [[
      "9p",
      "kataShared",
      "/run/kata-containers/shared/containers/",
    ]]);
    assert(Deno.statSync(`${r.root}/sb1/state.json`).isFile);
    assertEquals(r.sandbox.status, "running");
  } finally {
    await r.sandbox.stop();
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test("sandbox start without hooks does not rescan the network", async () => {
  const r = rig({ network: true });
  try {
    await r.sandbox.start();
    assertEquals(r.log.calls.filter((c) => c.startsWith("net.attach")), ["net.attach:prepared"]);
    assertEquals(r.log.calls.filter((c) => c.startsWith("hooks.")), []);
  } finally {
    await r.sandbox.stop();
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test("sandbox stop undoes the start newest first and removes the sandbox directory", async () => {
  const r = rig({ network: true });
  try {
    await r.sandbox.start();
    const before = r.log.calls.length;
    await r.sandbox.stop();
    assertEquals(r.log.calls.slice(before), [
      "agent.close",
      "hv.stopVm",
      "net.detach",
      "hv.cleanup",
    ]);
    assertEquals(r.sandbox.status, "stopped");
    assertEquals(r.vmExits, [], "an asked-for stop is not a VM death");
    assertEquals([...Deno.readDirSync(r.root)], []);
    await r.sandbox.stop(); // twice is fine
  } finally {
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test({
  name: "sandbox stop: a shared mount that cannot be unmounted stops the clean-up before " +
    "any removal; the data and state.json stay, the error names the mount",
  ignore: needs({ root: true }).ignore,
  async fn() {
    const r = rig();
    const src = Deno.makeTempDirSync({ prefix: "virt-sandbox-src-" });
    const mp = `${r.root}/sb1/shared/c1/vol`;
    let holder: Deno.ChildProcess | undefined;
    try {
      Deno.writeTextFileSync(`${src}/marker`, "precious");
      await r.sandbox.start();
      Deno.mkdirSync(mp, { recursive: true });
      mount(src, mp, "", ["bind"]);
      holder = new Deno.Command("sleep", { args: ["60"], cwd: mp }).spawn();
      const before = r.log.calls.length;
      await assertRejects(() => r.sandbox.stop(), Error, mp);
      assertEquals(r.log.calls.slice(before), ["agent.close", "hv.stopVm"], "no hv.cleanup");
      assertEquals(Deno.readTextFileSync(`${src}/marker`), "precious");
      assert(Deno.statSync(`${r.root}/sb1/state.json`).isFile, "state.json was removed");
    } finally {
      holder?.kill("SIGKILL");
      await holder?.status;
      for (const m of mountsUnder(r.root)) unmount(m);
      Deno.removeSync(r.root, { recursive: true });
      Deno.removeSync(src, { recursive: true });
    }
  },
});

Deno.test({
  name: "sandbox start: a stale sandbox of the same id is cleaned up first (its identified " +
    "VMM killed, its mounts undone without touching the data)",
  ignore: needs({ root: true }).ignore,
  async fn() {
    const r = rig();
    const src = Deno.makeTempDirSync({ prefix: "virt-sandbox-src-" });
    const stale = new Deno.Command("sleep", { args: ["60"] }).spawn();
    const mp = `${r.root}/sb1/shared/c1/vol`;
    try {
      Deno.writeTextFileSync(`${src}/marker`, "precious");
      Deno.mkdirSync(mp, { recursive: true });
      mount(src, mp, "", ["bind"]);
      const id = identify(stale.pid)!;
      await new StateStore({ root: r.root }).save({
        sandbox_id: "sb1",
        runtime: "virt_container",
        hypervisor: {
          hypervisor_type: "qemu",
          pid: id.pid,
          pid_start: id.start_time,
          pid_exe: id.exe,
          owned_paths: [`${r.root}/sb1/qemu`],
        },
        resources: { share_fs: { host_dir: `${r.root}/sb1/shared` } },
      });
      await r.sandbox.start();
      assertEquals((await stale.status).signal, "SIGKILL", "the stale VMM was not killed");
      assertEquals(Deno.readTextFileSync(`${src}/marker`), "precious");
      assertEquals(mountsUnder(mp), []);
      assertEquals(r.sandbox.status, "running");
    } finally {
      try {
        stale.kill("SIGKILL");
      } catch { /* killed by the clean-up */ }
      await stale.status;
      await r.sandbox.stop().catch(() => {});
      for (const m of mountsUnder(r.root)) unmount(m);
      Deno.removeSync(r.root, { recursive: true });
      Deno.removeSync(src, { recursive: true });
    }
  },
});

const FAILURES: [string, string[]][] = [
  ["hv.prepareVm", []],
  // The VMM is stopped before anything is unmounted, its files removed after.
  ["hv.addDevice:share_fs", ["hv.stopVm", "hv.cleanup"]],
  ["net.attach:prepared", ["hv.stopVm", "hv.cleanup"]],
  ["hv.startVm", ["net.detach", "hv.stopVm", "hv.cleanup"]],
  ["hooks.prestart", ["hv.stopVm", "net.detach", "hv.cleanup"]],
  ["net.attach:started", ["hv.stopVm", "net.detach", "hv.cleanup"]],
  ["hv.bootVm", ["hv.stopVm", "net.detach", "hv.cleanup"]],
  ["agent.dial", ["hv.stopVm", "net.detach", "hv.cleanup"]],
  ["agent.updateInterface", ["agent.close", "hv.stopVm", "net.detach", "hv.cleanup"]],
  ["agent.createSandbox", ["agent.close", "hv.stopVm", "net.detach", "hv.cleanup"]],
  ["agent.getGuestDetails", ["agent.close", "hv.stopVm", "net.detach", "hv.cleanup"]],
];

for (const [failAt, undo] of FAILURES) {
  Deno.test(`sandbox start failing at ${failAt} undoes exactly the earlier steps`, async () => {
    const r = rig({ hooks: true, network: true });
    r.log.failAt = failAt;
    try {
      await assertRejects(() => r.sandbox.start(), Error, `injected failure at ${failAt}`);
      assertEquals(r.log.after(failAt), undo);
      assertEquals(r.sandbox.status, "stopped");
      assertEquals([...Deno.readDirSync(r.root)], [], "nothing is left in the run root");
      assertEquals(r.vmExits, []);
    } finally {
      Deno.removeSync(r.root, { recursive: true });
    }
  });
}

Deno.test("UpdateInterface is retried only on Link not found", async () => {
  const r = rig({ network: true });
  let tries = 0;
  r.agent.handlers.updateInterface = () => {
    tries++;
    return tries < 3 ? Promise.reject(new Error("Link not found")) : Promise.resolve({});
  };
  try {
    await r.sandbox.start();
    assertEquals(tries, 3);
  } finally {
    await r.sandbox.stop();
  }
  const r2 = rig({ network: true });
  let tries2 = 0;
  r2.agent.handlers.updateInterface = () => {
    tries2++;
    return Promise.reject(new Error("permission denied"));
  };
  try {
    await assertRejects(() => r2.sandbox.start(), Error, "permission denied");
    assertEquals(tries2, 1);
  } finally {
    Deno.removeSync(r.root, { recursive: true });
    Deno.removeSync(r2.root, { recursive: true });
  }
});

Deno.test("a VM that dies while the start waits on its agent fails the start at once and undoes it", async () => {
  const r = rig({ network: true });
  // A guest that panicked in boot never answers: CreateSandbox stays pending.
  r.agent.handlers.createSandbox = () => {
    queueMicrotask(() => r.hv.die());
    return new Promise(() => {});
  };
  try {
    await assertRejects(
      () => r.sandbox.start(),
      UnavailableError,
      "The VM of sandbox sb1 exited (code 1, signal null) during create_sandbox",
    );
    assertEquals(r.log.after("agent.createSandbox"), [
      "agent.close",
      "hv.stopVm",
      "net.detach",
      "hv.cleanup",
    ]);
    assertEquals(r.sandbox.status, "stopped");
    assertEquals(r.vmExits, [{ code: 1, signal: null }]);
    assertEquals([...Deno.readDirSync(r.root)], [], "nothing is left in the run root");
  } finally {
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test("a VM that dies while running is reported once; stop afterwards still cleans up", async () => {
  const r = rig();
  try {
    await r.sandbox.start();
    r.hv.die();
    await new Promise((res) => setTimeout(res, 0));
    assertEquals(r.vmExits, [{ code: 1, signal: null }]);
    await r.sandbox.stop();
    assert(r.log.calls.includes("hv.cleanup"));
    assertEquals([...Deno.readDirSync(r.root)], []);
  } finally {
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test("a VMM without NIC hotplug gets the pod's NICs before start, hooks' NICs right before boot", async () => {
  const r = rig({ hooks: true, network: true, netHotplug: false });
  try {
    await r.sandbox.start();
    const first = r.log.calls.indexOf("net.flushQueued");
    assert(first < r.log.calls.indexOf("hv.startVm"), "pod NICs before the VM starts");
    const i = r.log.calls.lastIndexOf("net.flushQueued");
    assertEquals(r.log.calls[i + 1], "hv.bootVm");
    assert(i > r.log.calls.indexOf("hooks.createRuntime"));
  } finally {
    await r.sandbox.stop();
    Deno.removeSync(r.root, { recursive: true });
  }
});

Deno.test("a VM restored from a template gets a seed, the time and its NIC's MAC before CreateSandbox", async () => {
  const r = rig({ network: true });
  const cold = rig({ network: true });
  Object.assign(r.hv, { templateClone: () => ({ nicMac: "02:00:00:00:7e:01" }) });
  try {
    const before = Date.now();
    await r.sandbox.start();
    const agentCalls = r.log.calls.filter((c) => c.startsWith("agent."));
    const at = (m: string) => agentCalls.indexOf(`agent.${m}`);
    assert(at("dial") >= 0 && at("dial") < at("reseedRandomDev"), agentCalls.join());
    assert(at("reseedRandomDev") < at("setGuestDateTime"), agentCalls.join());
    assert(at("setGuestDateTime") < at("updateInterface"), agentCalls.join());
    assert(at("updateInterface") < at("createSandbox"), agentCalls.join());
    const req = (m: string) => r.agent.requests.find((q) => q.method === m)!.req;
    const seed = (req("reseedRandomDev") as { data: Uint8Array }).data;
    assertEquals(seed.length, 256);
    const sec = Number((req("setGuestDateTime") as { Sec: bigint }).Sec);
    assert(sec >= Math.floor(before / 1000) && sec <= Date.now() / 1000, `clock ${sec}`);
    const iface = (req("updateInterface") as { interface: { devicePath: string } }).interface;
    assertEquals(iface.devicePath, "template-mac=02:00:00:00:7e:01");

    await cold.sandbox.start();
    const coldCalls = cold.log.calls.filter((c) => c.startsWith("agent."));
    assert(!coldCalls.includes("agent.reseedRandomDev"), "a cold boot has its own identity");
    const coldIface = cold.agent.requests.find((q) => q.method === "updateInterface")!
      .req as { interface: { devicePath: string } };
    assertEquals(coldIface.interface.devicePath, "");
  } finally {
    await r.sandbox.stop();
    await cold.sandbox.stop();
    Deno.removeSync(r.root, { recursive: true });
    Deno.removeSync(cold.root, { recursive: true });
  }
});
