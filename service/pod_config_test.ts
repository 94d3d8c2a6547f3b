import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { assertEquals, assertThrows } from "../tests/assert.ts";
import { InvalidArgumentError } from "../common/errors.ts";
import { NamespaceMode, PodSandboxConfigSchema } from "./gen/cri/runtime/v1/pod_sandbox_pb.ts";
import { podConfigFromOptions } from "./pod_config.ts";

Deno.test("podConfigFromOptions: CRI's PodSandboxConfig as plain fields", () => {
  const cfg = create(PodSandboxConfigSchema, {
    metadata: { name: "web", uid: "u1", namespace: "default", attempt: 2 },
    hostname: "web-0",
    logDirectory: "/var/log/pods/x",
    dnsConfig: { servers: ["10.0.0.10"], searches: ["svc"], options: ["ndots:5"] },
    annotations: { "io.katacontainers.config.hypervisor.default_vcpus": "2" },
    linux: {
      cgroupParent: "/kubepods/pod-u1",
      securityContext: {
        namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER },
      },
      resources: { cpuPeriod: 100000n, cpuQuota: 150000n, memoryLimitInBytes: 268435456n },
    },
  });
  const any = create(AnySchema, {
    typeUrl: "runtime.v1.PodSandboxConfig",
    value: toBinary(PodSandboxConfigSchema, cfg),
  });
  const pod = podConfigFromOptions(any);
  assertEquals(pod.name, "web");
  assertEquals(pod.attempt, 2);
  assertEquals(pod.hostname, "web-0");
  assertEquals(pod.dns.servers, ["10.0.0.10"]);
  assertEquals(pod.cgroupParent, "/kubepods/pod-u1");
  assertEquals(pod.namespaces, { network: "NODE", pid: "CONTAINER", ipc: "POD" });
  assertEquals(pod.resources, {
    cpuPeriod: 100000,
    cpuQuota: 150000,
    cpuShares: 0,
    memoryLimitInBytes: 268435456,
  });
  assertEquals(pod.overhead, undefined);
  assertEquals(pod.annotations["io.katacontainers.config.hypervisor.default_vcpus"], "2");
});

Deno.test("podConfigFromOptions: no options is an empty pod; another type or bad bytes are refused", () => {
  assertEquals(podConfigFromOptions(undefined).name, "");
  assertThrows(
    () => podConfigFromOptions(create(AnySchema, { typeUrl: "x.Other", value: new Uint8Array(1) })),
    InvalidArgumentError,
    "x.Other",
  );
  assertThrows(
    () =>
      podConfigFromOptions(
        create(AnySchema, {
          typeUrl: "runtime.v1.PodSandboxConfig",
          value: new Uint8Array([0xff]),
        }),
      ),
    InvalidArgumentError,
    "does not decode",
  );
});
