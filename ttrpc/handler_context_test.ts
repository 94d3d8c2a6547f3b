import { assert, assertEquals } from "../tests/assert.ts";
import { CallCancellation, TtrpcHandlerContext } from "./handler_context.ts";
import { Echo } from "./gen/ttrpc/testing/echo_pb.ts";
import { metadataValues, requestMetadata } from "./metadata.ts";

Deno.test("CallCancellation aborts a signal made before or after the abort", () => {
  const early = new CallCancellation();
  const signal = early.signal;
  early.abort("first");
  early.abort("second");
  assertEquals([signal.aborted, signal.reason], [true, "first"]);
  const late = new CallCancellation();
  late.abort("gone");
  assertEquals([late.aborted, late.signal.aborted, late.signal.reason], [true, true, "gone"]);
});

Deno.test("TtrpcHandlerContext exposes method, deadline and metadata (raw and as headers)", () => {
  const meta = [
    { key: "Containerd-Namespace-Ttrpc", value: "k8s.io" },
    { key: "multi", value: "a" },
    { key: "multi", value: "b" },
    { key: "bad key", value: "x" },
  ];
  const ctx = new TtrpcHandlerContext(
    Echo.method.echo,
    new CallCancellation(),
    Date.now() + 5000,
    meta,
  );
  assertEquals([ctx.service.typeName, ctx.method.name, ctx.url], [
    "ttrpc.testing.Echo",
    "Echo",
    "/ttrpc.testing.Echo/Echo",
  ]);
  const left = ctx.timeoutMs();
  assert(left !== undefined && left > 4000 && left <= 5000, `timeoutMs ${left}`);
  assertEquals(ctx.requestHeader.get("containerd-namespace-ttrpc"), "k8s.io");
  assertEquals(ctx.requestHeader.get("multi"), "a, b");
  assertEquals(requestMetadata(ctx), meta);
  assertEquals(metadataValues(ctx, "multi"), ["a", "b"]);
  const none = new TtrpcHandlerContext(Echo.method.echo, new CallCancellation(), undefined, []);
  assertEquals(none.timeoutMs(), undefined);
});
