import { assertEquals, assertRejects } from "../../tests/assert.ts";
import type { PodNamespaceHolder } from "./pod_namespaces.ts";
import { GuestSandbox, readGuestHooks } from "./sandbox.ts";

/** A created guest sandbox whose runc never runs, its files under `dir` (bundles under `bundles`). */
async function createdSandbox(
  dir: string,
  opts: {
    bundles?: string;
    dns?: string[];
    cgroups?: boolean;
    sandboxPidns?: boolean;
    podNamespaces?: PodNamespaceHolder;
  },
): Promise<GuestSandbox> {
  const sb = new GuestSandbox({
    runc: { binary: "false", root: "/nonexistent", noPivot: false },
    bundleRoot: opts.bundles ?? dir,
    ...(opts.cgroups ? { cgroupRoot: dir } : {}),
    resolvConf: `${dir}/resolv.conf`,
    ...(opts.podNamespaces ? { podNamespaces: opts.podNamespaces } : {}),
  });
  await sb.create({
    id: "pod",
    hostname: "",
    dns: opts.dns ?? [],
    storages: [],
    guestHookPath: "",
    sandboxPidns: opts.sandboxPidns ?? false,
  });
  return sb;
}

Deno.test("guest hooks are read from the kata layout", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/prestart`);
    await Deno.mkdir(`${dir}/poststop`);
    await Deno.writeTextFile(`${dir}/prestart/b`, "#!/bin/sh\n");
    await Deno.writeTextFile(`${dir}/prestart/a`, "#!/bin/sh\n");
    assertEquals(await readGuestHooks(dir), {
      prestart: [
        { path: `${dir}/prestart/a`, args: [`${dir}/prestart/a`] },
        { path: `${dir}/prestart/b`, args: [`${dir}/prestart/b`] },
      ],
    });
    assertEquals(await readGuestHooks(`${dir}/none`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("OOM events come from memory.events oom_kill increases", async () => {
  const dir = await Deno.makeTempDir();
  const bundles = await Deno.makeTempDir();
  try {
    const sb = await createdSandbox(dir, {
      bundles,
      cgroups: true,
      dns: ["nameserver 10.0.0.1"],
    });
    assertEquals(await Deno.readTextFile(`${dir}/resolv.conf`), "nameserver 10.0.0.1\n");
    await sb.createContainer("c1", {
      process: { args: ["true"] },
      root: { path: "/" },
      linux: { cgroupsPath: "/pods/c1" },
    }, []);
    await Deno.mkdir(`${dir}/pods/c1`, { recursive: true });
    await Deno.writeTextFile(`${dir}/pods/c1/memory.events`, "oom 0\noom_kill 0\n");
    const ctl = new AbortController();
    const event = sb.nextOomEvent(ctl.signal, 10);
    await Deno.writeTextFile(`${dir}/pods/c1/memory.events`, "oom 1\noom_kill 1\n");
    assertEquals(await event, "c1");
    await assertRejects(
      () => sb.createContainer("c1", { process: {}, root: {} }, []),
      Error,
      'Container "c1" already exists',
    );
    await assertRejects(() => sb.createContainer("../x", {}, []), Error, "Invalid container id");
    await sb.removeContainer("c1", 0);
    await assertRejects(() => sb.removeContainer("c1", 0), Error, 'Container "c1" not found');
    await sb.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bundles, { recursive: true });
  }
});

Deno.test("pod containers need their sandbox container running; the sandbox PID namespace is accepted", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sb = await createdSandbox(dir, { sandboxPidns: true });
    const cri = (type: string) => ({
      process: { args: ["true"] },
      root: { path: "/" },
      annotations: {
        "io.kubernetes.cri.container-type": type,
        "io.kubernetes.cri.sandbox-id": "pod",
      },
    });
    await sb.createContainer("pod", cri("sandbox"), []);
    // Created, not started: there are no namespaces to join yet.
    await assertRejects(
      () => sb.createContainer("a", cri("container"), []),
      Error,
      'the pod\'s sandbox container "pod" is not running',
    );
    await sb.destroy();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pod without a sandbox container joins the namespaces the agent holds for it", async () => {
  const dir = await Deno.makeTempDir();
  const held: string[] = [];
  const holder = {
    ensure: () => {
      held.push("ensure");
      return Promise.resolve(777);
    },
    stop: () => {
      held.push("stop");
      return Promise.resolve();
    },
  };
  try {
    const sb = await createdSandbox(dir, { podNamespaces: holder });
    const spec = (pidPath?: string) => ({
      process: { args: ["true"] },
      root: { path: "/" },
      hostname: "pod",
      annotations: {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.sandbox-id": "pod",
      },
      linux: {
        namespaces: [
          { type: "ipc", path: "/proc/1234/ns/ipc" },
          { type: "uts", path: "/proc/1234/ns/uts" },
          { type: "pid", ...(pidPath ? { path: pidPath } : {}) },
          { type: "mount" },
          { type: "network", path: "/proc/1234/ns/net" },
        ],
      },
    });
    await sb.createContainer("a", spec(), []);
    await sb.createContainer("b", spec("/proc/1234/ns/pid"), [], { sandboxPidns: true });
    const written = async (id: string) =>
      JSON.parse(await Deno.readTextFile(`${dir}/${id}/config.json`));
    const a = await written("a");
    assertEquals(a.linux.namespaces, [
      { type: "ipc", path: "/proc/777/ns/ipc" },
      { type: "uts", path: "/proc/777/ns/uts" },
      { type: "pid" },
      { type: "mount" },
    ]);
    assertEquals(a.hostname, undefined, "the held UTS namespace has the pod's hostname");
    const b = await written("b");
    assertEquals(b.linux.namespaces[2], { type: "pid", path: "/proc/777/ns/pid" });
    await sb.destroy();
    assertEquals(held, ["ensure", "ensure", "stop"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
