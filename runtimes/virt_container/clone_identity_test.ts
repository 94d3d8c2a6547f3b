import { assert, assertEquals, assertNotEquals } from "../../tests/assert.ts";
import { CLONE_SEED_BYTES, giveCloneIdentity, templateNicPath } from "./clone_identity.ts";

Deno.test("a clone gets a fresh seed each time and the given time, seconds and microseconds", async () => {
  const seeds: Uint8Array[] = [];
  const times: { Sec: bigint; Usec: bigint }[] = [];
  const agent = {
    reseedRandomDev: (r: { data: Uint8Array }) => {
      seeds.push(r.data);
      return Promise.resolve({} as never);
    },
    setGuestDateTime: (r: { Sec: bigint; Usec: bigint }) => {
      times.push(r);
      return Promise.resolve({} as never);
    },
  } as unknown as Parameters<typeof giveCloneIdentity>[0];
  await giveCloneIdentity(agent, 1_700_000_000_123);
  await giveCloneIdentity(agent, 1_700_000_001_000);
  assertEquals(seeds.map((s) => s.length), [CLONE_SEED_BYTES, CLONE_SEED_BYTES]);
  assertNotEquals(seeds[0], seeds[1]);
  assert(seeds[0].some((b) => b !== 0));
  assertEquals(times, [
    { Sec: 1_700_000_000n, Usec: 123_000n },
    { Sec: 1_700_000_001n, Usec: 0n },
  ]);
  assertEquals(templateNicPath("02:00:00:00:7e:01"), "template-mac=02:00:00:00:7e:01");
});
