import { assertEquals, assertRejects, assertThrows } from "../tests/assert.ts";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  UnimplementedError,
} from "../common/errors.ts";
import { getLogger } from "../common/log.ts";
import type { Device } from "./device.ts";
import { ExternalVmm, type PlacedDevice } from "./external_vmm.ts";
import type { PrepareVmOptions } from "./hypervisor.ts";

/** The smallest driver on the base: it runs no VMM. */
class NoVmm extends ExternalVmm {
  constructor(runRoot: string, disableBlockDeviceUse = false) {
    super({
      kind: "qemu",
      vmm: "Test VMM",
      runRoot,
      subdir: "test",
      disableBlockDeviceUse,
      log: getLogger("test"),
    });
  }
  async prepare(opts: PrepareVmOptions): Promise<void> {
    await this.prepareDir(opts);
    this.vm.moveTo("prepared");
  }
  take(d: Device): PlacedDevice {
    const dev = this.admit(d);
    this.devices.set(dev.id, dev);
    return dev;
  }
  savedStateForTest() {
    return this.savedState("", {});
  }
  stopVm(): Promise<void> {
    this.vm.stopped();
    return Promise.resolve();
  }
}

Deno.test("external VMM base: run directory, device admission, saved state, clean-up", async () => {
  const root = await Deno.makeTempDir();
  try {
    const v = new NoVmm(root, true);
    assertThrows(
      () => v.take({ kind: "vsock", guestCid: 3 }),
      FailedPreconditionError,
      "it is not_ready",
    );
    assertThrows(() => v.savedStateForTest(), FailedPreconditionError, "no state before prepareVm");
    await assertRejects(
      () => v.prepare({ id: "../x" }),
      InvalidArgumentError,
      "Invalid sandbox id",
    );
    await v.prepare({ id: "sb" });
    assertEquals(Deno.statSync(`${root}/sb/test`).isDirectory, true);
    v.take({ kind: "vsock", id: "v", guestCid: 3 });
    assertThrows(
      () => v.take({ kind: "vsock", id: "v", guestCid: 3 }),
      AlreadyExistsError,
      "id already in use",
    );
    assertThrows(() => v.take({ kind: "vfio", bdf: "0000:00:01.0" }), UnimplementedError);
    assertThrows(
      () => v.take({ kind: "block", path: "/x", readOnly: true }),
      FailedPreconditionError,
      "disable_block_device_use is set",
    );
    const s = v.savedStateForTest();
    assertEquals([s.hypervisor_type, s.id, s.run_dir, s.owned_paths, s.pid], [
      "qemu",
      "sb",
      `${root}/sb/test`,
      [`${root}/sb/test`],
      null,
    ]);
    await assertRejects(() => v.waitVm(), FailedPreconditionError, "not started");
    await v.cleanup();
    assertEquals(v.state(), "stopped");
    assertThrows(() => Deno.statSync(`${root}/sb/test`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
