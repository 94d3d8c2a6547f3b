// AF_VSOCK test cases of ttrpc/transport/vsock.ts, run by its vsock_test.ts in a child `deno test --unstable-vsock`
// (without that flag Deno exits the whole process on the first vsock call).
// The round trip also needs the vsock_loopback kernel module (CID 1), which
// this development host lacks: it is then ignored with the reason in its name.
import { createClient } from "@connectrpc/connect";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { UnavailableError } from "../../common/errors.ts";
import { echoImpl } from "../../ttrpc/echo_testing.ts";
import { Echo } from "../../ttrpc/gen/ttrpc/testing/echo_pb.ts";
import { TtrpcServer } from "../../ttrpc/server.ts";
import { createTtrpcTransport } from "../../ttrpc/transport.ts";
import { connectVsock, listenVsock, VMADDR_CID_ANY } from "../../ttrpc/transport/vsock.ts";

const PORT = 40000 + Math.floor(Math.random() * 20000);

function vsockEnabled(): string | undefined {
  try {
    listenVsock(PORT).close();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const disabled = vsockEnabled();
let hasLoopback = false;
try {
  hasLoopback = Deno.statSync("/sys/module/vsock_loopback").isDirectory;
} catch {
  // Module not loaded.
}
if (disabled) console.warn(`vsock tests ignored: AF_VSOCK unavailable to Deno (${disabled})`);
if (!hasLoopback) console.warn("vsock round-trip test ignored: no vsock_loopback module (CID 1)");

Deno.test({
  name: `listenVsock() binds CID_ANY and a ttrpc server serves and closes on it${
    disabled ? " (ignored: AF_VSOCK unavailable)" : ""
  }`,
  ignore: disabled !== undefined,
  async fn() {
    const listener = listenVsock(PORT);
    const addr = listener.addr as Deno.VsockAddr;
    assertEquals([addr.cid, addr.port], [VMADDR_CID_ANY, PORT]);
    const server = new TtrpcServer().register(Echo, echoImpl);
    const serving = server.serve(listener);
    await server.close();
    await serving;
  },
});

Deno.test({
  name: `connectVsock() names cid and port when the peer cannot be reached${
    disabled ? " (ignored: AF_VSOCK unavailable)" : ""
  }`,
  ignore: disabled !== undefined,
  async fn() {
    // CID 3 has no local route here: connect fails at once, no traffic leaves the machine.
    const err = await assertRejects(
      () => connectVsock(3, PORT, { timeoutMs: 100, retryIntervalMs: 20 }),
      UnavailableError,
    );
    assert(err.message.includes(`vsock cid 3 port ${PORT}`), err.message);
  },
});

Deno.test({
  name: `ttRPC round trip over AF_VSOCK loopback${
    disabled || !hasLoopback ? " (ignored: needs AF_VSOCK and vsock_loopback)" : ""
  }`,
  ignore: disabled !== undefined || !hasLoopback,
  async fn() {
    const listener = listenVsock(PORT + 1);
    const server = new TtrpcServer().register(Echo, echoImpl);
    const serving = server.serve(listener);
    const transport = createTtrpcTransport(() => connectVsock(1, PORT + 1, { timeoutMs: 3000 }));
    try {
      assertEquals((await createClient(Echo, transport).echo({ text: "vsock" })).text, "vsock");
    } finally {
      transport.close();
      await server.close();
      await serving;
    }
  },
});
