import { Code, ConnectError } from "@connectrpc/connect";
import { assertEquals, assertRejects } from "../tests/assert.ts";
import { connectKataAgent, dialKataAgent, kataAgent } from "./kata_agent.ts";
import { Health, HealthCheckResponse_ServingStatus } from "./gen/health_pb.ts";
import { AgentService } from "./gen/agent_pb.ts";
import { TtrpcServer } from "../ttrpc/server.ts";

function healthServer(status: HealthCheckResponse_ServingStatus) {
  return new TtrpcServer().register(Health, {
    check: () => ({ $typeName: "grpc.HealthCheckResponse", status }),
    version: () => ({
      $typeName: "grpc.VersionCheckResponse",
      grpcVersion: "g",
      agentVersion: "a",
    }),
  }).register(AgentService, {});
}

Deno.test("waitReady retries until the agent starts listening", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agent.sock`;
  const server = healthServer(HealthCheckResponse_ServingStatus.SERVING);
  const agent = kataAgent(`unix://${path}`);
  try {
    const ready = agent.waitReady(5000);
    await new Promise((r) => setTimeout(r, 200));
    server.serve(Deno.listen({ transport: "unix", path }));
    await ready;
    assertEquals((await agent.version({})).agentVersion, "a");
    const err = await assertRejects(() => agent.startContainer({ containerId: "x" }), ConnectError);
    assertEquals(err.code, Code.Unimplemented);
    assertEquals(agent.address, `unix://${path}`);
  } finally {
    agent.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("connectKataAgent gives up on an agent that never serves", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agent.sock`;
  const server = healthServer(HealthCheckResponse_ServingStatus.NOT_SERVING);
  server.serve(Deno.listen({ transport: "unix", path }));
  try {
    await assertRejects(
      () => connectKataAgent(`unix://${path}`, { readyTimeoutMs: 300 }),
      Error,
      "not ready after 300 ms: status NOT_SERVING",
    );
    await assertRejects(
      () => connectKataAgent(`unix://${dir}/absent.sock`, { readyTimeoutMs: 200 }),
      Error,
      "not ready after 200 ms",
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dialKataAgent waits for the socket within the reconnect timeout", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agent.sock`;
  const server = healthServer(HealthCheckResponse_ServingStatus.SERVING);
  try {
    await assertRejects(
      () => dialKataAgent({ kind: "unix", path }, { dialTimeoutMs: 10, reconnectTimeoutMs: 100 }),
      Error,
      "Cannot connect",
    );
    server.serve(Deno.listen({ transport: "unix", path }));
    const agent = await dialKataAgent({ kind: "unix", path }, {
      dialTimeoutMs: 10,
      reconnectTimeoutMs: 1000,
    });
    assertEquals((await agent.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
    agent.close();
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
