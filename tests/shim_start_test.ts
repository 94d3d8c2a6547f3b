/**
 * `start` as containerd invokes it, without containerd: every stdin form is
 * tolerated, stdout is exactly the address, stderr stays empty, the server
 * answers Connect over ttRPC and exits after Shutdown; a pod's container
 * reuses the sandbox's address and spawns nothing.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { assert, assertEquals } from "./assert.ts";
import { connectUnix, createTtrpcTransport } from "../ttrpc/mod.ts";
import { Task } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { OptionsSchema } from "../service/gen/containerd/runtimeoptions/v1/api_pb.ts";
import { socketAddress, socketPath } from "../shim/address.ts";
import { processExists } from "../ffi/process.ts";
import { runShim } from "./command.ts";
import { identify, killIdentified } from "../persist/process_identity.ts";

function runStart(bundle: string, id: string, stdin: Uint8Array) {
  return runShim([
    "-namespace",
    "rts-test",
    "-address",
    `${bundle}/containerd.sock`,
    "-publish-binary",
    "/bin/false",
    "-id",
    id,
    "start",
  ], { cwd: bundle, stdin });
}

// containerd 2.3's BootstrapParams{instance_id=1 "x", namespace=2 "rts-test"} as raw protobuf.
function bootstrapParams(): Uint8Array {
  const enc = new TextEncoder();
  const id = enc.encode("x");
  const ns = enc.encode("rts-test");
  return new Uint8Array([0x0a, id.length, ...id, 0x12, ns.length, ...ns]);
}

Deno.test({
  name: "shim start: address only on stdout, server answers and exits after Shutdown",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rts-start-" });
    try {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
      const options = toBinary(
        AnySchema,
        create(AnySchema, {
          typeUrl: "runtimeoptions.v1.Options",
          value: toBinary(OptionsSchema, create(OptionsSchema, { configPath: "/x.toml" })),
        }),
      );
      const stdins: [string, Uint8Array][] = [
        ["nothing", new Uint8Array()],
        ["runtime options", options],
        ["bootstrap params", bootstrapParams()],
      ];
      for (const [what, stdin] of stdins) {
        const id = `start-${what.replaceAll(" ", "-")}`;
        const r = await runStart(dir, id, stdin);
        const want = socketAddress(`${dir}/containerd.sock`, "rts-test", id);
        assertEquals(r.code, 0, `${what}: ${r.stderr}`);
        assertEquals(r.stdout, want, what);
        assertEquals(r.stderr, "", what);
        assertEquals(await Deno.readTextFile(`${dir}/address`), want);
        const pid = Number(await Deno.readTextFile(`${dir}/shim.pid`));
        assert(processExists(pid), `${what}: shim ${pid} is not running`);
        const transport = createTtrpcTransport(() => connectUnix(socketPath(want)), {
          metadata: [{ key: "containerd-namespace-ttrpc", value: "rts-test" }],
        });
        try {
          const client = createClient(Task, transport);
          const info = await client.connect({ id });
          assertEquals(info.shimPid, pid);
          assertEquals(info.taskPid, 0);
          await client.shutdown({ id });
        } finally {
          transport.close();
        }
        let gone = false;
        for (let i = 0; i < 100 && !gone; i++) {
          await new Promise((r) => setTimeout(r, 50));
          gone = !processExists(pid) ||
            (await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "")).includes(") Z ");
        }
        assert(gone, `${what}: shim ${pid} did not exit after Shutdown`);
        await assertGone(socketPath(want));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("shim start: a pod's container gets the sandbox's address and spawns nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-start-" });
  try {
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({
        ociVersion: "1.0.2",
        annotations: {
          "io.kubernetes.cri.container-type": "container",
          "io.kubernetes.cri.sandbox-id": "the-sandbox",
        },
      }),
    );
    const r = await runStart(dir, "pod-member", new Uint8Array());
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      r.stdout,
      socketAddress(`${dir}/containerd.sock`, "rts-test", "the-sandbox"),
    );
    assertEquals(await Deno.readTextFile(`${dir}/address`), r.stdout);
    await assertGone(`${dir}/shim.pid`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertGone(path: string): Promise<void> {
  const exists = await Deno.lstat(path).then(() => true, () => false);
  assert(!exists, `${path} exists`);
}

Deno.test({
  name: "shim start: a server that dies before serving fails the pending request at once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rts-start-" });
    try {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
      const r = await runStart(dir, "dies-early", new Uint8Array());
      assertEquals(r.code, 0, r.stderr);
      // start returned once the server bound its socket, before it loads its services: kill
      // it now, as a crash during that start-up would.
      const pid = Number(await Deno.readTextFile(`${dir}/shim.pid`));
      const server = identify(pid);
      assert(server, `the server ${pid} that start spawned is gone already`);
      assertEquals(await killIdentified(server, "SIGKILL"), "killed");
      const transport = createTtrpcTransport(() => connectUnix(socketPath(r.stdout)), {
        metadata: [{ key: "containerd-namespace-ttrpc", value: "rts-test" }],
      });
      try {
        const client = createClient(Task, transport);
        // The socket's only holder died: the request fails (reset or refused), it must not
        // wait. The guard below only turns a hang into a failure; it measures nothing.
        let guard: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([
          client.connect({ id: "dies-early" }).then(() => "answered", () => "failed"),
          new Promise<string>((res) => guard = setTimeout(() => res("hung"), 20_000)),
        ]);
        clearTimeout(guard);
        assertEquals(outcome, "failed");
      } finally {
        transport.close();
        // What containerd's `shim delete` does after such a crash: the socket goes.
        await Deno.remove(socketPath(r.stdout)).catch(() => {});
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("shim serve: a start-up failure is written to the bundle's log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rts-serve-" });
  try {
    // A regular file stands in for containerd's log FIFO.
    await Deno.writeTextFile(`${dir}/log`, "");
    const r = await runShim([
      "-namespace",
      "rts-test",
      "-address",
      `${dir}/containerd.sock`,
      "-publish-binary",
      "/bin/false",
      "-id",
      "bad-fd",
      "-socket",
      `unix://${dir}/s.sock`,
      "-bundle",
      dir,
    ], { cwd: dir, env: { KATA_SHIM_READY_FD: "not-a-number" } });
    assertEquals(r.code, 1);
    const log = await Deno.readTextFile(`${dir}/log`);
    assert(log.includes("shim server start-up failed"), log);
    assert(log.includes("KATA_SHIM_READY_FD must be an fd number"), log);
    assert(log.includes("not-a-number"), log);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "shim start: a server that dies before its socket is up fails start at once, leaving no socket",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rts-start-" });
    const id = "cannot-bind";
    const path = socketPath(socketAddress(`${dir}/containerd.sock`, "rts-test", id));
    try {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
      await Deno.writeTextFile(`${dir}/log`, "");
      // A non-empty directory at the address: the server's rename onto it fails.
      await Deno.mkdir(`${path}/x`, { recursive: true });
      const t0 = performance.now();
      const r = await runStart(dir, id, new Uint8Array());
      const ms = performance.now() - t0;
      assertEquals(r.code, 1, r.stdout);
      assert(
        /the shim server \(pid \d+\) exited with status 1 before serving/.test(r.stderr),
        r.stderr,
      );
      // Promptly: far below containerd's 100 s dial timeout and start's own 3 s bound.
      assert(ms < 2500, `start took ${ms} ms`);
      const log = await Deno.readTextFile(`${dir}/log`);
      assert(log.includes("shim server start-up failed"), log);
      const left = [...Deno.readDirSync(path.slice(0, path.lastIndexOf("/")))]
        .filter((e) => e.name.startsWith(path.slice(path.lastIndexOf("/") + 1) + "."));
      assertEquals(left, [], "a temporary socket was left");
      await assertGone(`${dir}/address`);
    } finally {
      await Deno.remove(path, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
