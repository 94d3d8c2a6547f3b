import { assert, assertEquals, assertRejects } from "../../tests/assert.ts";
import { DialTimeoutError, retryUntil } from "./retry.ts";

Deno.test("retryUntil() retries failures until one attempt succeeds", async () => {
  let n = 0;
  const got = await retryUntil(
    () => ++n < 3 ? Promise.reject(new Error(`no ${n}`)) : Promise.resolve(n),
    { timeoutMs: 1000, retryIntervalMs: 1 },
    () => {},
  );
  assertEquals(got, 3);
});

Deno.test("retryUntil() stops at the timeout and releases a late result", async () => {
  const released: string[] = [];
  let finishLate!: (v: string) => void;
  const err = await assertRejects(
    () =>
      retryUntil(
        () => new Promise<string>((resolve) => finishLate = resolve),
        { timeoutMs: 30, retryIntervalMs: 1 },
        (late) => released.push(late),
      ),
    DialTimeoutError,
  );
  assert(err.message.includes("did not finish in time"), err.message);
  finishLate("conn");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(released, ["conn"]);
  const failing = await assertRejects(
    () =>
      retryUntil(
        () => Promise.reject(new Error("refused")),
        { timeoutMs: 20, retryIntervalMs: 5 },
        () => {},
      ),
    DialTimeoutError,
  );
  assert(
    failing.message.endsWith("refused") && failing.message.includes("attempts"),
    failing.message,
  );
});
