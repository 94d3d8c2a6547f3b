/**
 * The interop test Task service in TypeScript, behaving like the one in
 * go/ttrpc_peer.go (see there): State echoes, Wait blocks until the call's
 * signal fires, Kill fails with code = signal, Connect answers fixed values.
 * Other methods are left out, so the server answers Unimplemented.
 * @module
 */
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { Task } from "../../service/gen/containerd/task/v2/shim_pb.ts";
import { metadataValues } from "../../ttrpc/metadata.ts";

const NAMESPACE_KEY = "containerd-namespace-ttrpc";

/** The test implementation of containerd.task.v2.Task. */
export const testTaskService: Partial<ServiceImpl<typeof Task>> = {
  state(req, ctx) {
    const big = /^big:(\d+)$/.exec(req.execId);
    return {
      id: req.id,
      stdin: req.execId,
      bundle: big ? "b".repeat(Number(big[1])) : metadataValues(ctx, NAMESPACE_KEY).join(","),
      pid: ctx.timeoutMs() === undefined ? 0 : 1,
    };
  },
  wait(_req, ctx) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ exitStatus: 0 }), 10_000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      }, { once: true });
    });
  },
  kill(req) {
    throw new ConnectError(`kill ${req.id}`, req.signal as Code);
  },
  connect() {
    return { shimPid: 4242, taskPid: 7, version: "ts" };
  },
};
