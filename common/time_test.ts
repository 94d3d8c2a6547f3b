import { assertEquals, assertRejects } from "../tests/assert.ts";
import { settleWithin, within } from "./time.ts";

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

Deno.test("within: the promise's value, or undefined once the bound passes", async () => {
  assertEquals(await within(Promise.resolve("exited"), 60_000), { value: "exited" });
  // A promise that resolves to undefined is still told apart from the bound passing.
  assertEquals(await within(Promise.resolve(undefined), 60_000), { value: undefined });
  assertEquals(await within(new Promise<string>(() => {}), 10), undefined);
  await assertRejects(
    () => within(Promise.reject(new Error("socket closed")), 60_000),
    Error,
    "socket closed",
  );
});
