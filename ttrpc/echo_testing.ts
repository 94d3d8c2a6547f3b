/**
 * Test support: an implementation of the `ttrpc.testing.Echo` service and a
 * helper that serves it on a temporary Unix socket. Used by the ttRPC tests,
 * the bad-input test and the benchmark; not part of the runtime.
 * @module
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { Echo, type EchoMessage } from "./gen/ttrpc/testing/echo_pb.ts";
import { metadataValues } from "./metadata.ts";
import { TtrpcServer } from "./server.ts";

/** Echo handler: sleeps (abortably), fails on request, or echoes text, data and metadata. */
export const echoImpl: ServiceImpl<typeof Echo> = {
  async echo(req: EchoMessage, ctx: HandlerContext) {
    if (req.sleepMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, req.sleepMs);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        }, { once: true });
      });
    }
    if (req.failCode !== 0) throw new ConnectError(req.text, req.failCode as Code);
    if (req.replySize > 8 << 20) {
      throw new ConnectError(`Reply size ${req.replySize} over 8 MiB`, Code.InvalidArgument);
    }
    const meta = metadataValues(ctx, "echo-meta");
    return {
      text: meta.length ? `${req.text}|${meta.join(",")}` : req.text,
      data: req.replySize > 0 ? new Uint8Array(req.replySize) : req.data,
      sleepMs: ctx.timeoutMs() === undefined ? 0 : 1,
    };
  },
};

/** A running Echo server on a temporary socket; `close()` stops it and removes the directory. */
export interface EchoServer {
  path: string;
  server: TtrpcServer;
  close(): Promise<void>;
}

/** Starts a TtrpcServer with the Echo service on a fresh Unix socket. */
export async function startEchoServer(): Promise<EchoServer> {
  const dir = await Deno.makeTempDir({ prefix: "ttrpc-echo-" });
  const path = `${dir}/echo.sock`;
  const server = new TtrpcServer().register(Echo, echoImpl);
  const listener = Deno.listen({ transport: "unix", path });
  const serving = server.serve(listener);
  return {
    path,
    server,
    async close() {
      await server.close();
      await serving;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
