// Interop with the real Go implementation: containerd's ttrpc package and its
// task v2 client/server (Debian golang-github-containerd-{ttrpc,containerd}-dev).
// Both directions run the same checks; the Go client against the Go server is
// the reference the other pairings must match.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { assertEquals } from "../assert.ts";
import { Task } from "../../service/gen/containerd/task/v2/shim_pb.ts";
import { ClientConnection } from "../../ttrpc/client_connection.ts";
import { TtrpcServer } from "../../ttrpc/server.ts";
import { createTtrpcTransport } from "../../ttrpc/transport.ts";
import { connectUnix } from "../../ttrpc/transport/unix.ts";
import { runGoClient, startGoServer } from "./go_peer.ts";
import { testTaskService } from "./task_service.ts";
import { testsNeeding } from "../tier.ts";

const test = testsNeeding({ peers: ["go"] });

type Json = Record<string, unknown>;
const OK = { code: 0, message: "" };
const LIMIT = 4 << 20;

/** What the checks must report from any conforming pairing (Go client -> Go server, measured). */
function expectedReport(version: string): Json {
  return {
    state: { outcome: OK, id: "c1", bundle: "ns1,ns2", pid: 0, stdin: "e1" },
    stateWithDeadline: { outcome: OK, pid: 1 },
    concurrentCorrect: 64,
    near: { outcome: OK, len: LIMIT - 1024 },
    overRequest: {
      code: Code.ResourceExhausted,
      message: `message length ${LIMIT + 142} exceed maximum message size of ${LIMIT}`,
    },
    afterOver: { outcome: OK, id: "after" },
    kill: { code: 5, message: "kill c1" },
    pause: { code: Code.Unimplemented },
    unknownService: { code: Code.Unimplemented, message: "service no.Such" },
    unknownMethod: { code: Code.Unimplemented, message: "method NoMethod" },
    waitDeadline: { code: Code.DeadlineExceeded },
    connect: { outcome: OK, shimPid: 4242, taskPid: 7, version },
  };
}

/** Drops what legitimately differs between pairings: messages of deadline and unimplemented errors. */
function normalize(report: Json): Json {
  const out = structuredClone(report);
  out.pause = { code: (report.pause as Json).code };
  out.waitDeadline = { code: (report.waitDeadline as Json).code };
  return out;
}

function outcome(err: unknown): { code: number; message: string } {
  if (err instanceof ConnectError) return { code: err.code, message: err.rawMessage };
  throw err;
}

async function attempt<T>(fn: () => Promise<T>): Promise<[T | undefined, Json]> {
  try {
    return [await fn(), OK];
  } catch (err) {
    return [undefined, outcome(err)];
  }
}

/** The same checks as `ttrpc_peer check`, made with our typed client. */
async function tsCheck(path: string): Promise<Json> {
  const transport = createTtrpcTransport(await connectUnix(path));
  try {
    const tc = createClient(Task, transport);
    const out: Json = {};
    const ns: [string, string][] = [
      ["containerd-namespace-ttrpc", "ns1"],
      ["containerd-namespace-ttrpc", "ns2"],
    ];
    let [st, o] = await attempt(() => tc.state({ id: "c1", execId: "e1" }, { headers: ns }));
    out.state = { outcome: o, id: st?.id, bundle: st?.bundle, pid: st?.pid, stdin: st?.stdin };
    [st, o] = await attempt(() => tc.state({ id: "d" }, { timeoutMs: 5000 }));
    out.stateWithDeadline = { outcome: o, pid: st?.pid };
    const ids = Array.from({ length: 64 }, (_, i) => `id-${i}`);
    const got = await Promise.all(ids.map((id) => tc.state({ id }).then((r) => r.id === id)));
    out.concurrentCorrect = got.filter(Boolean).length;
    [st, o] = await attempt(() => tc.state({ id: "n".repeat(LIMIT - 1024) }));
    out.near = { outcome: o, len: st?.id.length };
    out.overRequest = (await attempt(() => tc.state({ id: "o".repeat(LIMIT + 100) })))[1];
    out.overReply = (await attempt(() => tc.state({ id: "x", execId: `big:${LIMIT + 100}` })))[1];
    [st, o] = await attempt(() => tc.state({ id: "after" }));
    out.afterOver = { outcome: o, id: st?.id };
    out.kill = (await attempt(() => tc.kill({ id: "c1", signal: 5 })))[1];
    out.pause = (await attempt(() => tc.pause({ id: "c1" })))[1];
    // Untyped calls for names no generated client has.
    const raw = new ClientConnection(await connectUnix(path));
    const empty = new Uint8Array(0);
    out.unknownService = (await attempt(() => raw.call("no.Such", "Method", empty)))[1];
    out.unknownMethod = (await attempt(() =>
      raw.call("containerd.task.v2.Task", "NoMethod", empty)
    ))[1];
    raw.close();
    out.waitDeadline = (await attempt(() => tc.wait({ id: "c1" }, { timeoutMs: 100 })))[1];
    const [cr, co] = await attempt(() => tc.connect({ id: "c1" }));
    out.connect = { outcome: co, shimPid: cr?.shimPid, taskPid: cr?.taskPid, version: cr?.version };
    return out;
  } finally {
    transport.close();
  }
}

test("reference: Go ttrpc client against the Go ttrpc server", async () => {
  const go = await startGoServer();
  try {
    const report = await runGoClient(["check", go.path, "skip-over-reply"]);
    assertEquals(normalize(report), expectedReport("go"));
  } finally {
    await go.stop();
  }
});

test("Go ttrpc client (containerd task v2 client) against our ttrpc server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ts-ttrpc-" });
  const path = `${dir}/ts.sock`;
  const server = new TtrpcServer().register(Task, testTaskService);
  const serving = server.serve(Deno.listen({ transport: "unix", path }));
  try {
    const report = await runGoClient(["check", path]);
    // An oversized reply is replaced by a ResourceExhausted status (as newer Go servers do).
    assertEquals(report.overReply, {
      code: Code.ResourceExhausted,
      message: `message length ${LIMIT + 128} exceed maximum message size of ${LIMIT}`,
    });
    delete report.overReply;
    assertEquals(normalize(report), expectedReport("ts"));
  } finally {
    await server.close();
    await serving;
    await Deno.remove(dir, { recursive: true });
  }
});

test("our ttrpc client against the Go ttrpc server", async () => {
  const go = await startGoServer();
  try {
    const report = await tsCheck(go.path);
    // The Go 1.1 server sends an oversized reply; our client drops it and fails only that call.
    assertEquals((report.overReply as Json).code, Code.ResourceExhausted);
    delete report.overReply;
    // Our client refuses to send an oversized request, with the Go server's wording.
    assertEquals(normalize(report), expectedReport("go"));
  } finally {
    await go.stop();
  }
});
