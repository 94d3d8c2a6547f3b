import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { UnavailableError } from "../../common/errors.ts";
import { FirecrackerApi, FirecrackerApiError, toFcRateLimiter } from "./api.ts";

Deno.test("FC rate limiters are JSON objects with refill_time", () => {
  assertEquals(toFcRateLimiter(undefined), undefined);
  assertEquals(toFcRateLimiter({}), undefined);
  assertEquals(
    toFcRateLimiter({
      bandwidth: { size: 10, refillTimeMs: 1000, oneTimeBurst: 5 },
      ops: { size: 2, refillTimeMs: 100 },
    }),
    {
      bandwidth: { size: 10, refill_time: 1000, one_time_burst: 5 },
      ops: { size: 2, refill_time: 100 },
    },
  );
});

Deno.test("FC API retries only while the socket is not up, then succeeds", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/fc.sock`;
  const api = new FirecrackerApi(path, { connectAttempts: 200, connectIntervalMs: 5 });
  let server: Deno.HttpServer | undefined;
  // The socket appears a little later, as it does while the VMM starts.
  const later = new Promise<void>((resolve) =>
    setTimeout(() => {
      server = Deno.serve({ path, onListen: () => {} }, () =>
        Response.json({ state: "Not started" }));
      resolve();
    }, 30)
  );
  try {
    assertEquals(await api.request("GET", "/"), { state: "Not started" });
  } finally {
    await later;
    await server?.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FC API: an error status fails at once with the fault message; bounded connect retries", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/fc.sock`;
  let calls = 0;
  const server = Deno.serve({ path, onListen: () => {} }, () => {
    calls++;
    return Response.json({ fault_message: "Invalid TAP device name: x" }, { status: 400 });
  });
  try {
    const e = await assertRejects(
      () => new FirecrackerApi(path).putNetworkInterface({ iface_id: "a", host_dev_name: "x" }),
      FirecrackerApiError,
    );
    assertEquals(
      e.message,
      "Firecracker API PUT /network-interfaces/a failed with status 400: Invalid TAP device name: x",
    );
    assertEquals([e.status, e.faultMessage, calls], [400, "Invalid TAP device name: x", 1]);
    await assertRejects(
      () =>
        new FirecrackerApi(`${dir}/absent.sock`, { connectAttempts: 3, connectIntervalMs: 1 })
          .instanceInfo(),
      UnavailableError,
      "socket not reachable after 3 attempts",
    );
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
