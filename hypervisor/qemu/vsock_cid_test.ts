import { assertRejects, assertThrows } from "../../tests/assert.ts";
import { UnavailableError } from "../../common/errors.ts";
import { allocateVsockCid } from "./vsock_cid.ts";
import { needs } from "../../tests/tier.ts";

Deno.test("vsock CID allocation explains a missing /dev/vhost-vsock", () => {
  assertThrows(
    () => allocateVsockCid("/nonexistent/vhost-vsock"),
    UnavailableError,
    "is the vhost_vsock module loaded?",
  );
});

Deno.test({
  name: "vsock CID allocation claims a CID on a real /dev/vhost-vsock",
  ignore: needs({ root: true, paths: ["/dev/vhost-vsock"] }).ignore, // only in the test host
  fn: async () => {
    const cid = allocateVsockCid();
    if (!(cid >= 3 && cid < 0xffffffff)) throw new Error(`bad CID ${cid}`);
    // A CID out of range is refused by the kernel, not retried forever.
    await assertRejects(
      () => Promise.resolve().then(() => allocateVsockCid(undefined, () => 2)),
      UnavailableError,
    );
  },
});
