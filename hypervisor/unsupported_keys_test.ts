import { assertThrows } from "../tests/assert.ts";
import { ConfigError } from "../common/errors.ts";
import {
  refuseUnsupportedKeys,
  UNSUPPORTED_EVERYWHERE,
  UNSUPPORTED_QEMU,
} from "./unsupported_keys.ts";

Deno.test("set unsupported keys are named; defaults pass", () => {
  const keys = [...UNSUPPORTED_EVERYWHERE, ...UNSUPPORTED_QEMU];
  refuseUnsupportedKeys(
    { enable_hugepages: false, pflashes: [], seccomp_sandbox: "", memory_slots: 10 },
    "qemu",
    "QEMU",
    keys,
  );
  const e = assertThrows(
    () => refuseUnsupportedKeys({ enable_hugepages: true, pflashes: ["/a"] }, "qemu", "QEMU", keys),
    ConfigError,
  );
  if (
    e.message !==
      "[hypervisor.qemu] enable_hugepages, pflashes are not supported by the QEMU driver"
  ) {
    throw new Error(e.message);
  }
  assertThrows(
    () =>
      refuseUnsupportedKeys(
        { rootless: true },
        "firecracker",
        "Firecracker",
        UNSUPPORTED_EVERYWHERE,
      ),
    ConfigError,
    "[hypervisor.firecracker] rootless is not supported by the Firecracker driver",
  );
});
