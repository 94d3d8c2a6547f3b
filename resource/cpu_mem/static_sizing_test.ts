import { assertEquals, assertThrows } from "../../tests/assert.ts";
import {
  podSandboxAnnotations,
  SANDBOX_CPU_PERIOD,
  SANDBOX_CPU_QUOTA,
  SANDBOX_CPU_SHARES,
  SANDBOX_MEMORY,
  staticVmSize,
  workloadSize,
} from "./static_sizing.ts";

const MIB = 2 ** 20;

Deno.test("workload size comes from the container's linux.resources", () => {
  const spec = {
    linux: {
      resources: { cpu: { quota: 150000, period: 100000 }, memory: { limit: 512 * MIB } },
    },
  };
  assertEquals(workloadSize(spec), { vcpus: 1.5, memoryMib: 512 });
});

Deno.test("workload size prefers the CRI sandbox annotations", () => {
  const spec = {
    annotations: {
      [SANDBOX_CPU_QUOTA]: "200000",
      [SANDBOX_CPU_PERIOD]: "100000",
      [SANDBOX_MEMORY]: String(256 * MIB),
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

Deno.test("workload size of a pod sandbox ignores the pause container's own resources", () => {
  // containerd gives the pause container 2 shares; a pod without limits asks for nothing.
  const spec = {
    annotations: { "io.kubernetes.cri.container-type": "sandbox" },
    linux: { resources: { cpu: { shares: 2 }, memory: { limit: 64 * MIB } } },
  };
  assertEquals(workloadSize(spec), { vcpus: 0, memoryMib: 0 });
});

Deno.test("workload size falls back to CPU shares without a quota, as runtime-rs", () => {
  const ann = (quota: string, shares: string) => ({
    annotations: {
      [SANDBOX_CPU_PERIOD]: "100000",
      [SANDBOX_CPU_QUOTA]: quota,
      [SANDBOX_CPU_SHARES]: shares,
      [SANDBOX_MEMORY]: "0",
    },
  });
  assertEquals(workloadSize(ann("-1", "2048")).vcpus, 2);
  // Fewer shares than one CPU (best effort, burstable) ask for no vCPU.
  assertEquals(workloadSize(ann("-1", "512")).vcpus, 0);
  // A quota wins over shares.
  assertEquals(workloadSize(ann("50000", "4096")).vcpus, 0.5);
  // A container without a quota but with a cpuset asks for its CPUs.
  assertEquals(workloadSize({ linux: { resources: { cpu: { cpus: "0-2,5" } } } }).vcpus, 4);
});

Deno.test("workload memory is rounded up to an even MiB (2 MiB alignment)", () => {
  assertEquals(
    workloadSize({ annotations: { [SANDBOX_MEMORY]: String(513 * MIB) } }).memoryMib,
    514,
  );
  assertEquals(
    workloadSize({ annotations: { [SANDBOX_MEMORY]: String(512 * MIB + 5) } }).memoryMib,
    512,
  );
  assertEquals(workloadSize({ annotations: { [SANDBOX_MEMORY]: "-1" } }).memoryMib, 0);
});

Deno.test("workload size refuses a non-numeric annotation", () => {
  assertThrows(() => workloadSize({ annotations: { [SANDBOX_MEMORY]: "lots" } }), Error, "Invalid");
});

Deno.test("a pod sized through the Sandbox API gets the VM of the same pod under podsandbox", () => {
  // What containerd's podsandbox controller writes on the pause container for
  // limits of 1.5 CPUs and 300 MiB, and the same pod's PodConfig resources.
  const pauseSpec = {
    annotations: {
      "io.kubernetes.cri.container-type": "sandbox",
      [SANDBOX_CPU_PERIOD]: "100000",
      [SANDBOX_CPU_QUOTA]: "150000",
      [SANDBOX_CPU_SHARES]: "1536",
      [SANDBOX_MEMORY]: String(300 * MIB),
    },
  };
  const limits = {
    cpuPeriod: 100000,
    cpuQuota: 150000,
    cpuShares: 1536,
    memoryLimitInBytes: 300 * MIB,
  };
  const synthesized = { annotations: podSandboxAnnotations(limits) };
  assertEquals(synthesized.annotations, {
    [SANDBOX_CPU_PERIOD]: "100000",
    [SANDBOX_CPU_QUOTA]: "150000",
    [SANDBOX_CPU_SHARES]: "1536",
    [SANDBOX_MEMORY]: String(300 * MIB),
  });
  assertEquals(workloadSize(synthesized), { vcpus: 1.5, memoryMib: 300 });
  assertEquals(workloadSize(synthesized), workloadSize(pauseSpec));
  const defaults = { vcpus: 1, memoryMib: 2048 };
  assertEquals(staticVmSize(defaults, workloadSize(synthesized)), {
    vcpus: 3,
    memoryMib: 2348,
    capped: false,
  });
  // A pod without limits gets no annotation and the defaults.
  assertEquals(podSandboxAnnotations(undefined), {});
  assertEquals(staticVmSize(defaults, workloadSize({ annotations: {} })), {
    ...defaults,
    capped: false,
  });
});

Deno.test("static VM size adds the workload to the defaults and rounds vCPUs up", () => {
  assertEquals(staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 1.5, memoryMib: 512 }), {
    vcpus: 3,
    memoryMib: 2560,
    capped: false,
  });
  // A fractional default counts before rounding, as runtime-rs adds to a float.
  assertEquals(
    staticVmSize({ vcpus: 0.5, memoryMib: 2048 }, { vcpus: 0.5, memoryMib: 0 }).vcpus,
    1,
  );
  assertEquals(staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 0, memoryMib: 0 }), {
    vcpus: 1,
    memoryMib: 2048,
    capped: false,
  });
});

Deno.test("static VM size is capped by the configured maxima, saying so", () => {
  assertEquals(
    staticVmSize({ vcpus: 1, memoryMib: 2048 }, { vcpus: 8, memoryMib: 8192 }, {
      vcpus: 4,
      memoryMib: 4096,
    }),
    { vcpus: 4, memoryMib: 4096, capped: true },
  );
});
