/**
 * The shim server with a log FIFO nobody reads (containerd restarting, or a
 * reader that closed): it still answers Connect and State at once, and
 * attaches to the FIFO once a reader comes.
 */
import { createClient } from "@connectrpc/connect";
import { assert, assertEquals } from "./assert.ts";
import { connectUnix, createTtrpcTransport } from "../ttrpc/mod.ts";
import { Task } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { socketPath } from "../shim/address.ts";
import { closeFd, O, openFd, readFd } from "../ffi/fd.ts";
import { processExists } from "../ffi/process.ts";
import { mkfifo } from "./fifo.ts";
import { runShim } from "./command.ts";

/** `p`, or a rejection naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer to ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

Deno.test({
  name:
    "shim serve: with no reader on the log FIFO it answers Connect and State, then logs once one comes",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rts-logfifo-" });
    const id = "log-fifo";
    let reader = -1;
    let pid = 0;
    try {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ociVersion: "1.0.2" }));
      mkfifo(`${dir}/log`);
      const r = await runShim([
        "-namespace",
        "rts-test",
        "-address",
        `${dir}/containerd.sock`,
        "-publish-binary",
        "/bin/false",
        "-id",
        id,
        "start",
      ], { cwd: dir });
      assertEquals(r.code, 0, r.stderr);
      pid = Number(await Deno.readTextFile(`${dir}/shim.pid`));
      const transport = createTtrpcTransport(() => connectUnix(socketPath(r.stdout.trim())), {
        metadata: [{ key: "containerd-namespace-ttrpc", value: "rts-test" }],
      });
      try {
        const client = createClient(Task, transport);
        const info = await within(client.connect({ id }), 10_000, "Connect");
        assertEquals(info.shimPid, pid);
        // No container yet: State must answer (with NotFound), not hang.
        const state = await within(
          client.state({ id }).then(() => "answered", (e) => `error: ${e}`),
          10_000,
          "State",
        );
        assert(state === "answered" || /not.?found/i.test(state), state);
        // A reader comes (containerd reopens the log): the server attaches and logs there.
        reader = openFd(`${dir}/log`, O.RDONLY | O.NONBLOCK);
        await new Promise((res) => setTimeout(res, 1200));
        await within(client.shutdown({ id }), 10_000, "Shutdown");
      } finally {
        transport.close();
      }
      let text = "";
      const buf = new Uint8Array(1 << 16);
      for (let i = 0; i < 100 && !text.includes("shim exits"); i++) {
        await new Promise((res) => setTimeout(res, 50));
        try {
          text += new TextDecoder().decode(buf.subarray(0, readFd(reader, buf)));
        } catch { /* EAGAIN: nothing yet */ }
      }
      assert(text.includes("shim exits"), `the log FIFO got: ${JSON.stringify(text)}`);
    } finally {
      if (reader >= 0) closeFd(reader);
      if (pid > 0 && processExists(pid)) Deno.kill(pid, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
