import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { isLinkNotFound, updateInterfaceWithRetry } from "./update_interface.ts";
import { agentInterface } from "./agent_info.ts";
import { scannedVeth } from "./links_testing.ts";

const iface = agentInterface(scannedVeth());

/** A stand-in for the agent's UpdateInterface call that fails `failures` times with `error`. */
function agentCall(failures: number, error: string) {
  const calls = { n: 0, slept: [] as number[] };
  const update = (i: typeof iface) => {
    calls.n++;
    if (calls.n <= failures) return Promise.reject(new Error(error));
    return Promise.resolve(i.name);
  };
  const sleep = (ms: number) => {
    calls.slept.push(ms);
    return Promise.resolve();
  };
  return { calls, update, sleep };
}

Deno.test("Link not found is retried 100 ms apart until the guest link appears", async () => {
  const { calls, update, sleep } = agentCall(7, "rpc error: code = Internal desc = Link not found");
  assertEquals(await updateInterfaceWithRetry(update, iface, { sleep }), "eth0");
  assertEquals(calls.n, 8);
  assertEquals(calls.slept, new Array(7).fill(100));
});

Deno.test("any other error fails at once", async () => {
  const { calls, update, sleep } = agentCall(1, "Invalid argument: bad MTU");
  await assertRejects(() => updateInterfaceWithRetry(update, iface, { sleep }), Error, "bad MTU");
  assertEquals(calls.n, 1);
  assertEquals(calls.slept, []);
});

Deno.test("after 100 attempts the error names the interface and the count", async () => {
  const { calls, update, sleep } = agentCall(1000, "Link not found");
  await assertRejects(
    () => updateInterfaceWithRetry(update, iface, { sleep }),
    Error,
    "Update interface eth0: guest link still not found after 100 attempts",
  );
  assertEquals(calls.n, 100);
  assertEquals(calls.slept.length, 99);
});

Deno.test("isLinkNotFound matches the agent's text in errors and strings", () => {
  assertEquals(isLinkNotFound(new Error("x: Link not found")), true);
  assertEquals(isLinkNotFound("Link not found"), true);
  assertEquals(isLinkNotFound(new Error("link not found")), false);
});
