import { assertEquals, assertRejects } from "../tests/assert.ts";
import { settleWithin, valueWithin } from "./time.ts";

Deno.test("settleWithin: resolves with the promise, or when the bound passes first", async () => {
  const order: string[] = [];
  await settleWithin(Promise.resolve(1).then(() => order.push("settled")), 60_000);
  // A promise that never settles: the bound ends the wait (and its timer is cleared, or the
  // test's sanitizer would fail).
  await settleWithin(new Promise(() => {}), 10).then(() => order.push("bound"));
  assertEquals(order, ["settled", "bound"]);
  await assertRejects(
    () => settleWithin(Promise.reject(new Error("copy failed")), 60_000),
    Error,
    "copy failed",
  );
});

Deno.test("valueWithin: the promise's value, or undefined once the bound passes", async () => {
  assertEquals(await valueWithin(Promise.resolve("exited"), 60_000), "exited");
  assertEquals(await valueWithin(new Promise<string>(() => {}), 10), undefined);
  await assertRejects(
    () => valueWithin(Promise.reject(new Error("socket closed")), 60_000),
    Error,
    "socket closed",
  );
});
