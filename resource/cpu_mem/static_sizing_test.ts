import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  SANDBOX_CPU_PERIOD,
  SANDBOX_CPU_QUOTA,
  SANDBOX_MEMORY,
  staticVmSize,
  workloadSize,
} from "./static_sizing.ts";

Deno.test("workload size comes from the container's linux.resources", () => {
  const spec = {
    linux: {
      resources: { cpu: { quota: 150000, period: 100000 }, memory: { limit: 512 * 2 ** 20 } },
    },
  };
  assertEquals(workloadSize(spec), { vcpus: 1.5, memoryMib: 512 });
});

Deno.test("workload size prefers the CRI sandbox annotations", () => {
  const spec = {
    annotations: {
      [SANDBOX_CPU_QUOTA]: "200000",
      [SANDBOX_CPU_PERIOD]: "100000",
      [SANDBOX_MEMORY]: String(256 * 2 ** 20),
    },
    linux: { resources: { cpu: { quota: 50000, period: 100000 } } },
  };
  assertEquals(workloadSize(spec), { vcpus: 2, memoryMib: 256 });
});

Deno.test("workload size is zero without limits (unlimited quota -1 too)", () => {
  assertEquals(workloadSize({}), { vcpus: 0, memoryMib: 0 });
  assertEquals(workloadSize({ linux: { resources: { cpu: { quota: -1, period: 100000 } } } }), {
    vcpus: 0,
    memoryMib: 0,
  });
});

Deno.test("workload size refuses a non-numeric annotation", () => {
  assertThrows(() => workloadSize({ annotations: { [SANDBOX_MEMORY]: "lots" } }), Error, "Invalid");
});

Deno.test("static VM size adds the workload to the defaults and rounds vCPUs up", () => {
  assertEquals(staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 1.5, memoryMib: 512 }), {
    vcpus: 3,
    memoryMib: 2560,
  });
  assertEquals(staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 0, memoryMib: 0 }), {
    vcpus: 1,
    memoryMib: 2048,
  });
});

Deno.test("static VM size is capped by the configured maxima", () => {
  assertEquals(
    staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 8, memoryMib: 8192 }, {
      vcpus: 4,
      memoryMib: 4096,
    }),
    { vcpus: 4, memoryMib: 4096 },
  );
});
