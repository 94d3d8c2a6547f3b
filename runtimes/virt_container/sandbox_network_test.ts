import { assertEquals } from "../../tests/assert.ts";
import { CallLog, RecordingHypervisor } from "../../tests/virt_container/doubles.ts";
import { DeviceManager } from "../../hypervisor/device_manager.ts";
import type { NetworkDevice } from "../../hypervisor/device.ts";
import { networkSink } from "./sandbox_network.ts";

const NIC: NetworkDevice = {
  kind: "network",
  tapName: "tap0_kata",
  guestMac: "02:00:00:00:00:02",
  queues: 1,
};

Deno.test("the network's NICs go through the device manager, filed under their tap name", async () => {
  const log = new CallLog();
  const hv = new RecordingHypervisor(log);
  await hv.prepareVm();
  const dm = new DeviceManager(hv);
  const sink = networkSink(hv, dm);
  await sink.addDevice(NIC);
  assertEquals(dm.list("network").map((r) => [r.device.id, r.status]), [["tap0_kata", "queued"]]);
  await sink.removeDevice(NIC);
  assertEquals(dm.list("network"), []);
  // Once the VM is gone the removal is skipped: the VM took its NICs along.
  await sink.addDevice(NIC);
  await hv.stopVm();
  await sink.removeDevice(NIC);
  assertEquals(
    log.calls.filter((c) => c.startsWith("hv.") && c.includes("Device")),
    ["hv.addDevice:network", "hv.removeDevice:network", "hv.addDevice:network"],
  );
});
