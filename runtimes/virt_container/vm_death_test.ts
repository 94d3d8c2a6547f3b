import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { CallLog, RecordingHypervisor } from "../../tests/virt_container/doubles.ts";
import { UnavailableError } from "../../common/errors.ts";
import type { VmExit } from "../../hypervisor/hypervisor.ts";
import { VmDeathWatch } from "./vm_death.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("failFast gives the step's own result while the VM lives", async () => {
  const hv = new RecordingHypervisor(new CallLog());
  const deaths: VmExit[] = [];
  const watch = new VmDeathWatch(hv, "sb1", () => false, (e) => deaths.push(e));
  assertEquals(await watch.failFast("create_sandbox", Promise.resolve(7)), 7);
  await assertRejects(
    () => watch.failFast("create_sandbox", Promise.reject(new Error("agent said no"))),
    Error,
    "agent said no",
  );
  assertEquals(deaths, []);
});

Deno.test("a VM that dies fails the pending step at once, naming the exit, and is reported once", async () => {
  const hv = new RecordingHypervisor(new CallLog());
  const deaths: VmExit[] = [];
  const watch = new VmDeathWatch(hv, "sb1", () => false, (e) => deaths.push(e));
  let release: (e: Error) => void = () => {};
  const pending = new Promise<void>((_, reject) => release = reject);
  const failing = assertRejects(
    () => watch.failFast("connect_agent", pending),
    UnavailableError,
    "The VM of sandbox sb1 exited (code 1, signal null) during connect_agent",
  );
  hv.die();
  await failing;
  // The abandoned step settles later without an unhandled rejection.
  release(new Error("transport closed"));
  await watch.done;
  await tick();
  assertEquals(deaths, [{ code: 1, signal: null }]);
  // A step begun after the death fails the same way.
  await assertRejects(
    () => watch.failFast("create_sandbox", new Promise<void>(() => {})),
    UnavailableError,
    "during create_sandbox",
  );
});

Deno.test("a VM stopped on purpose is neither reported nor fails a step", async () => {
  const hv = new RecordingHypervisor(new CallLog());
  const deaths: VmExit[] = [];
  let stopping = false;
  const watch = new VmDeathWatch(hv, "sb1", () => stopping, (e) => deaths.push(e));
  stopping = true;
  await hv.stopVm();
  await watch.done;
  assertEquals(await watch.failFast("save_state", Promise.resolve("saved")), "saved");
  assertEquals(deaths, []);
});
