import { assertEquals, assertThrows } from "../tests/assert.ts";
import { FailedPreconditionError } from "../common/errors.ts";
import { BOOTS_IN_BOOT, BOOTS_IN_START, VmLifecycle } from "./vm_lifecycle.ts";

Deno.test("VM lifecycle (boots in start): each operation only in its states, refusals name VM and state", () => {
  const vm = new VmLifecycle("QEMU", BOOTS_IN_START);
  assertThrows(
    () => vm.require("attach", 'add block device "b" to'),
    FailedPreconditionError,
    'Cannot add block device "b" to QEMU VM "": it is not_ready',
  );
  vm.require("prepare");
  vm.id = "sb";
  vm.moveTo("prepared");
  assertThrows(
    () => vm.require("prepare", "prepare", "other"),
    FailedPreconditionError,
    'Cannot prepare QEMU VM "other": already prepared',
  );
  vm.require("attach");
  vm.require("start");
  assertThrows(
    () => vm.require("operate", "pause"),
    FailedPreconditionError,
    'Cannot pause QEMU VM "sb": it is prepared, not running',
  );
  vm.moveTo("running");
  vm.require("boot");
  vm.require("operate");
  assertThrows(() => vm.require("start"), FailedPreconditionError, "it is running, not prepared");
  vm.stopped();
  assertEquals(vm.state, "stopped");
  assertThrows(
    () => vm.moveTo("running"),
    FailedPreconditionError,
    'Invalid state transition of QEMU VM "sb" from stopped to running',
  );
  assertEquals(vm.allows("attach"), false);
});

Deno.test("VM lifecycle (boots in boot): boot needs started; a never-prepared VM stays not_ready", () => {
  const vm = new VmLifecycle("Firecracker", BOOTS_IN_BOOT);
  vm.stopped();
  assertEquals(vm.state, "not_ready");
  vm.moveTo("prepared");
  vm.moveTo("started");
  vm.require("attach");
  vm.require("boot");
  vm.moveTo("running");
  assertThrows(() => vm.require("boot"), FailedPreconditionError, "it is running, not started");
  assertThrows(() => vm.moveTo("prepared"), FailedPreconditionError);
});
