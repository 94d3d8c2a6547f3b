import { createClient } from "@connectrpc/connect";
import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import { AlreadyExistsError } from "../common/errors.ts";
import { echoImpl } from "./echo_testing.ts";
import { Echo } from "./gen/ttrpc/testing/echo_pb.ts";
import { TtrpcServer } from "./server.ts";
import { createTtrpcTransport } from "./transport.ts";
import { connectUnix } from "./transport/unix.ts";

async function serveLazy(load: () => Promise<{ service: typeof Echo; impl: typeof echoImpl }>) {
  const dir = await Deno.makeTempDir({ prefix: "ttrpc-lazy-" });
  const path = `${dir}/s.sock`;
  const server = new TtrpcServer().registerLazy(Echo.typeName, load);
  const serving = server.serve(Deno.listen({ transport: "unix", path }));
  return {
    server,
    client: () => createClient(Echo, createTtrpcTransport(() => connectUnix(path))),
    async close() {
      await server.close();
      await serving;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("registerLazy: the service loads on its first call, once for all connections", async () => {
  let loads = 0;
  const s = await serveLazy(() => {
    loads++;
    return Promise.resolve({ service: Echo, impl: echoImpl });
  });
  try {
    assertEquals(loads, 0);
    const [a, b] = await Promise.all([
      s.client().echo({ text: "one" }),
      s.client().echo({ text: "two" }),
    ]);
    assertEquals([a.text, b.text], ["one", "two"]);
    assertEquals((await s.client().echo({ text: "three" })).text, "three");
    assertEquals(loads, 1);
    assertThrows(
      () => s.server.registerLazy(Echo.typeName, () => Promise.reject(new Error("unused"))),
      AlreadyExistsError,
    );
  } finally {
    await s.close();
  }
});

Deno.test("registerLazy: a loader that brings another service fails the call, naming both", async () => {
  const s = await serveLazy(() =>
    Promise.resolve({
      service: { ...Echo, typeName: "other.Service" } as typeof Echo,
      impl: echoImpl,
    })
  );
  try {
    await assertRejects(() => s.client().echo({ text: "x" }), Error, "other.Service");
  } finally {
    await s.close();
  }
});
