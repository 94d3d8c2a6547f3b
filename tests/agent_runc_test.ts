/**
 * The guest agent outside a VM: served on a Unix socket in this process,
 * driven through the shim-side client (agent/kata_agent.ts) over real ttRPC,
 * with containers run by this machine's runc from a busybox rootfs. Covers
 * the container lifecycle through the agent API alone; the VM group
 * (tests/vm/agent_test.ts) repeats it over vsock inside a real guest.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "./assert.ts";
import { kataAgent } from "../agent/kata_agent.ts";
import { startAgent } from "../agent/guest/main.ts";
import { SpecSchema } from "../agent/gen/oci_pb.ts";
import { testsNeeding } from "./tier.ts";

const test = testsNeeding({ root: true, peers: ["runc"] });

const dec = new TextDecoder();

async function busyboxRootfs(dir: string): Promise<string> {
  const rootfs = `${dir}/rootfs`;
  for (const d of ["bin", "proc", "dev", "tmp", "sys"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.copyFile("/bin/busybox", `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  for (const a of ["sh", "sleep", "echo", "cat", "hostname", "test", "tty", "stty"]) {
    await Deno.symlink("busybox", `${rootfs}/bin/${a}`);
  }
  return rootfs;
}

/** Reads a stream to its end through ReadStdout/ReadStderr. */
async function readAll(read: () => Promise<{ data: Uint8Array }>): Promise<string> {
  let text = "";
  for (;;) {
    const { data } = await read();
    if (data.length === 0) return text;
    text += dec.decode(data);
  }
}

function spec(rootfs: string, id: string, args: string[]) {
  return create(SpecSchema, {
    Version: "1.0.2",
    Process: { Args: args, Env: ["PATH=/bin"], Cwd: "/", User: { UID: 0, GID: 0 } },
    Root: { Path: rootfs },
    Hostname: "agent-test",
    Mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "mode=755"] },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
    ],
    Linux: {
      CgroupsPath: `/rts-agent-test-${id}`,
      Namespaces: [{ Type: "pid" }, { Type: "mount" }, { Type: "ipc" }, { Type: "uts" }, {
        Type: "network",
        Path: "/proc/1/ns/net",
      }],
    },
  });
}

test("agent API drives a runc container: create, start, output, exec, signal, exit codes, remove", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-agent-" });
  const id = `c${dir.slice(-6).replace(/[^a-zA-Z0-9]/g, "x")}`;
  const agentProc = await startAgent({
    listen: `unix://${dir}/agent.sock`,
    runcRoot: `${dir}/runc`,
    bundleRoot: `${dir}/bundles`,
  });
  const client = kataAgent(`unix://${dir}/agent.sock`, { reconnectTimeoutMs: 2000 });
  try {
    await client.waitReady(5000);
    assertEquals((await client.version({})).agentVersion, "4.0.0-runtime-ts");
    const details = await client.getGuestDetails({ memBlockSize: false });
    assert(details.agentDetails?.storageHandlers.includes("9p"), "9p storage handler listed");

    assertStringIncludes(
      (await client.getMetrics({})).metrics,
      'kata_guest_meminfo{item="MemTotal"}',
    );
    await client.createSandbox({
      sandboxId: "sb1",
      storages: [{ driver: "local", mountPoint: `${dir}/local` }],
    });
    assertEquals((await Deno.stat(`${dir}/local`)).isDirectory, true);

    const rootfs = await busyboxRootfs(dir);
    await client.createContainer({
      containerId: id,
      execId: id,
      // A device passed in: the agent puts the node's own numbers into the spec.
      devices: [{ id: "zero", type: "c", vmPath: "/dev/zero", containerPath: "/dev/myzero" }],
      OCI: spec(rootfs, id, [
        "sh",
        "-c",
        "echo hello from $(hostname); read line; echo got $line; sleep 60",
      ]),
    });
    // The network namespace path of the host spec is dropped: the container shares the agent's.
    const config = JSON.parse(await Deno.readTextFile(`${dir}/bundles/${id}/config.json`));
    assertEquals(config.linux.namespaces.map((n: { type: string }) => n.type), [
      "pid",
      "mount",
      "ipc",
      "uts",
    ]);
    await client.startContainer({ containerId: id });
    const first = dec.decode(
      (await client.readStdout({ containerId: id, execId: "", len: 1024 })).data,
    );
    assertEquals(first, "hello from agent-test\n");
    assertEquals(
      (await client.writeStdin({ containerId: id, data: new TextEncoder().encode("ping\n") })).len,
      5,
    );
    assertEquals(
      dec.decode((await client.readStdout({ containerId: id, len: 1024 })).data),
      "got ping\n",
    );

    await client.execProcess({
      containerId: id,
      execId: "e1",
      process: {
        Args: ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"],
        Env: ["PATH=/bin"],
        Cwd: "/",
      },
    });
    const [out, err, exec] = await Promise.all([
      readAll(() => client.readStdout({ containerId: id, execId: "e1", len: 4 })),
      readAll(() => client.readStderr({ containerId: id, execId: "e1", len: 4 })),
      client.waitProcess({ containerId: id, execId: "e1" }),
    ]);
    assertEquals([out, err, exec.status], ["exec-out\n", "exec-err\n", 3]);

    await client.execProcess({
      containerId: id,
      execId: "e2",
      process: { Args: ["test", "-c", "/dev/myzero"], Env: ["PATH=/bin"], Cwd: "/" },
    });
    assertEquals((await client.waitProcess({ containerId: id, execId: "e2" })).status, 0);

    // A terminal exec: runc hands the pty to the agent, which resizes it and relays it.
    await client.execProcess({
      containerId: id,
      execId: "t1",
      process: {
        Terminal: true,
        Args: ["sh", "-c", "tty; read x; stty size; echo got $x; exit 7"],
        Env: ["PATH=/bin"],
        Cwd: "/",
      },
    });
    await client.ttyWinResize({ containerId: id, execId: "t1", row: 30, column: 100 });
    await client.writeStdin({
      containerId: id,
      execId: "t1",
      data: new TextEncoder().encode("hi\n"),
    });
    const [tty, ttyExit] = await Promise.all([
      readAll(() => client.readStdout({ containerId: id, execId: "t1", len: 1024 })),
      client.waitProcess({ containerId: id, execId: "t1" }),
    ]);
    assertMatch(tty, /\/dev\/pts\/\d+\r\n/);
    assertStringIncludes(tty, "30 100\r\n");
    assertStringIncludes(tty, "got hi\r\n");
    assertEquals(ttyExit.status, 7);
    const noTty = await assertRejects(
      () => client.ttyWinResize({ containerId: id, execId: "e1", row: 1, column: 1 }),
      ConnectError,
      "it has no terminal",
    );
    assertEquals(noTty.code, Code.FailedPrecondition);

    const stats = await client.statsContainer({ containerId: id });
    assert((stats.cgroupStats?.pidsStats?.current ?? 0n) >= 1n, "pids counted");

    await client.signalProcess({ containerId: id, execId: "", signal: 9 });
    assertEquals((await client.waitProcess({ containerId: id, execId: "" })).status, 137);
    await client.removeContainer({ containerId: id, timeout: 5 });

    const missing = await assertRejects(
      () => client.startContainer({ containerId: id }),
      ConnectError,
    );
    assertEquals(missing.code, Code.NotFound);
    const bad = await assertRejects(
      () => client.createSandbox({ sandboxId: "sb2" }),
      ConnectError,
    );
    assertEquals(bad.code, Code.AlreadyExists);
    const unsupported = await assertRejects(
      () => client.getIPTables({}),
      ConnectError,
    );
    assertEquals(unsupported.code, Code.Unimplemented);
    // The agent is still serving after the failed requests.
    await client.check({});
    await client.destroySandbox({});
  } finally {
    client.close();
    await agentProc.close();
    await new Deno.Command("runc", { args: ["--root", `${dir}/runc`, "delete", "--force", id] })
      .output().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

test("agent API: an exec right after StartContainer finds the container", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-agent-" });
  const id = `s${dir.slice(-6).replace(/[^a-zA-Z0-9]/g, "x")}`;
  const agentProc = await startAgent({
    listen: `unix://${dir}/agent.sock`,
    runcRoot: `${dir}/runc`,
    bundleRoot: `${dir}/bundles`,
  });
  const client = kataAgent(`unix://${dir}/agent.sock`, { reconnectTimeoutMs: 2000 });
  try {
    await client.waitReady(5000);
    await client.createSandbox({ sandboxId: "sb1" });
    const rootfs = await busyboxRootfs(dir);
    await client.createContainer({
      containerId: id,
      execId: id,
      OCI: spec(rootfs, id, ["sleep", "60"]),
    });
    await client.startContainer({ containerId: id });
    // No wait of any kind between start and exec: this is what `ctr run -d` then `ctr task exec` does.
    await client.execProcess({
      containerId: id,
      execId: "e1",
      process: { Args: ["sh", "-c", "echo right-away; exit 5"], Env: ["PATH=/bin"], Cwd: "/" },
    });
    const [out, exec] = await Promise.all([
      readAll(() => client.readStdout({ containerId: id, execId: "e1", len: 1024 })),
      client.waitProcess({ containerId: id, execId: "e1" }),
    ]);
    assertEquals([out, exec.status], ["right-away\n", 5]);
    await client.signalProcess({ containerId: id, execId: "", signal: 9 });
    assertEquals((await client.waitProcess({ containerId: id, execId: "" })).status, 137);
    await client.removeContainer({ containerId: id, timeout: 5 });
    await client.destroySandbox({});
  } finally {
    client.close();
    await agentProc.close();
    await new Deno.Command("runc", { args: ["--root", `${dir}/runc`, "delete", "--force", id] })
      .output().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
