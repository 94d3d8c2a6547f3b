// Checks that the committed generated protobuf code matches what `deno task proto`
// produces from the .proto sources, so nobody edits gen/ by hand or forgets to regenerate.
import { assertEquals } from "./assert.ts";

const root = new URL("..", import.meta.url).pathname;
const modules = ["service", "agent", "ttrpc"];

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) files.push(...await listFiles(`${dir}/${entry.name}`, rel + "/"));
    else files.push(rel);
  }
  return files.sort();
}

Deno.test("generated protobuf code is up to date with the .proto sources", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "proto-gen-" });
  try {
    const { code, stderr } = await new Deno.Command(`${root}scripts/proto`, {
      args: [tmp],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(code, 0, `scripts/proto failed: ${new TextDecoder().decode(stderr)}`);
    for (const module of modules) {
      const committed = `${root}${module}/gen`;
      const fresh = `${tmp}/${module}/gen`;
      const committedFiles = await listFiles(committed);
      assertEquals(
        committedFiles,
        await listFiles(fresh),
        `${module}/gen has a different file set`,
      );
      for (const file of committedFiles) {
        const want = await Deno.readTextFile(`${fresh}/${file}`);
        const have = await Deno.readTextFile(`${committed}/${file}`);
        assertEquals(have === want, true, `${module}/gen/${file} is stale: run deno task proto`);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("generated descriptors carry the names and numbers the wire uses", async () => {
  const { create, toBinary } = await import("@bufbuild/protobuf");
  const shim = await import("../service/gen/containerd/task/v2/shim_pb.ts");
  const events = await import("../service/gen/containerd/events/task_pb.ts");
  const forward = await import("../service/gen/containerd/services/events/ttrpc/v1/events_pb.ts");
  const v1 = await import("../service/gen/containerd/cgroups/v1/metrics_pb.ts");
  const v2 = await import("../service/gen/containerd/cgroups/v2/metrics_pb.ts");
  const opts = await import("../service/gen/containerd/runtimeoptions/v1/api_pb.ts");
  const agent = await import("../agent/gen/agent_pb.ts");
  const health = await import("../agent/gen/health_pb.ts");
  assertEquals(shim.Task.typeName, "containerd.task.v2.Task");
  assertEquals(shim.Task.methods.length, 17);
  assertEquals(forward.Events.typeName, "containerd.services.events.ttrpc.v1.Events");
  assertEquals(events.TaskExitSchema.typeName, "containerd.events.TaskExit");
  assertEquals(v1.MetricsSchema.typeName, "io.containerd.cgroups.v1.Metrics");
  assertEquals(v2.MetricsSchema.typeName, "io.containerd.cgroups.v2.Metrics");
  assertEquals(opts.OptionsSchema.typeName, "runtimeoptions.v1.Options");
  assertEquals(agent.AgentService.typeName, "grpc.AgentService");
  assertEquals(agent.AgentService.methods.length, 42);
  assertEquals(health.Health.typeName, "grpc.Health");
  // Worked bytes: ConnectRequest{id:"abc"} and ConnectResponse{shim_pid:1234}.
  assertEquals([
    ...toBinary(shim.ConnectRequestSchema, create(shim.ConnectRequestSchema, { id: "abc" })),
  ], [
    0x0a,
    3,
    0x61,
    0x62,
    0x63,
  ]);
  assertEquals(
    [...toBinary(
      shim.ConnectResponseSchema,
      create(shim.ConnectResponseSchema, { shimPid: 1234 }),
    )],
    [0x08, 0xd2, 0x09],
  );
  // ReseedRandomDevRequest has no field 1: data is field 2.
  assertEquals(
    [...toBinary(
      agent.ReseedRandomDevRequestSchema,
      create(agent.ReseedRandomDevRequestSchema, { data: new Uint8Array([7]) }),
    )],
    [0x12, 1, 7],
  );
});
