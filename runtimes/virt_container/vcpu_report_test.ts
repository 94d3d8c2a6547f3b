import { assertEquals } from "../../tests/assert.ts";
import type { VmState } from "../../hypervisor/hypervisor.ts";
import { logVcpuReport } from "./vcpu_report.ts";

const hv = (state: VmState, vcpuReport?: () => Promise<string>) => ({
  state: () => state,
  vcpuReport,
});

Deno.test("a running VM's vCPU report is logged; none without a report or a running VM", async () => {
  assertEquals(
    await logVcpuReport(
      hv("running", () => Promise.resolve("QEMU status running; CPU#0 HLT=1")),
      "s1",
    ),
    "QEMU status running; CPU#0 HLT=1",
  );
  assertEquals(await logVcpuReport(hv("running"), "s1"), undefined);
  assertEquals(await logVcpuReport(hv("stopped", () => Promise.resolve("x")), "s1"), undefined);
});

Deno.test("a report that fails or hangs is bounded and says so", async () => {
  assertEquals(
    await logVcpuReport(hv("running", () => Promise.reject(new Error("QMP closed"))), "s1"),
    "unreadable: QMP closed",
  );
  let never: ReturnType<typeof setTimeout> | undefined;
  const hung = () => new Promise<string>((r) => never = setTimeout(() => r("late"), 10_000));
  assertEquals(await logVcpuReport(hv("started", hung), "s1", 20), "no answer in 20 ms");
  clearTimeout(never);
});
