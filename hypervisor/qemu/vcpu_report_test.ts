import { assertEquals } from "../../tests/assert.ts";
import { summarizeRegisters, vcpuReport } from "./vcpu_report.ts";

const INFO = [
  "CPU#0",
  "RAX=0000000000000000 RBX=ffffffff82a0f940 RCX=0000000000000001 RDX=0000000000000000",
  "RIP=ffffffff81e0f2f2 RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1",
  "ES =0000 0000000000000000 ffffffff 00c00000",
  "CPU#1",
  "RAX=0000000000000001 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000",
  "RIP=ffffffff8112c0f1 RFL=00000202 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0",
  "",
].join("\r\n");

Deno.test("info registers -a reads as one RIP, privilege level and halt state per vCPU", () => {
  assertEquals(summarizeRegisters(INFO), [
    "CPU#0 RIP=ffffffff81e0f2f2 CPL=0 HLT=1",
    "CPU#1 RIP=ffffffff8112c0f1 CPL=0 HLT=0",
  ]);
  assertEquals(summarizeRegisters("garbage\n"), []);
});

Deno.test("the report names QEMU's run state and asks HMP for every vCPU's registers", async () => {
  const asked: unknown[] = [];
  const qmp = {
    queryStatus: () => Promise.resolve({ status: "internal-error", running: false }),
    execute<T>(command: string, args?: Record<string, unknown>): Promise<T> {
      asked.push([command, args]);
      return Promise.resolve(INFO as T);
    },
  };
  assertEquals(
    await vcpuReport(qmp),
    "QEMU status internal-error; CPU#0 RIP=ffffffff81e0f2f2 CPL=0 HLT=1, " +
      "CPU#1 RIP=ffffffff8112c0f1 CPL=0 HLT=0",
  );
  assertEquals(asked, [["human-monitor-command", { "command-line": "info registers -a" }]]);
});
