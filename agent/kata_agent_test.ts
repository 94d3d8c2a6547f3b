import { Code, ConnectError } from "@connectrpc/connect";
import { assert, assertEquals, assertRejects } from "../tests/assert.ts";
import { UnavailableError, UnimplementedError } from "../common/errors.ts";
import { kataAgent } from "./kata_agent.ts";
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

Deno.test("waitReady gives up on an agent that never serves, or is absent", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agent.sock`;
  const server = healthServer(HealthCheckResponse_ServingStatus.NOT_SERVING);
  server.serve(Deno.listen({ transport: "unix", path }));
  const serving = kataAgent(`unix://${path}`);
  const absent = kataAgent(`unix://${dir}/absent.sock`, { reconnectTimeoutMs: 100 });
  try {
    await assertRejects(
      () => serving.waitReady(300),
      UnavailableError,
      "not ready after 300 ms: Health status NOT_SERVING",
    );
    await assertRejects(() => absent.waitReady(200), UnavailableError, "not ready after 200 ms");
  } finally {
    serving.close();
    absent.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with domainErrors, failed calls reject with domain errors, not ConnectError", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/agent.sock`;
  const server = healthServer(HealthCheckResponse_ServingStatus.SERVING);
  server.serve(Deno.listen({ transport: "unix", path }));
  const agent = kataAgent(`unix://${path}`, { domainErrors: true });
  const absent = kataAgent(`unix://${dir}/absent.sock`, {
    domainErrors: true,
    reconnectTimeoutMs: 100,
  });
  try {
    assertEquals((await agent.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
    const e = await assertRejects(
      () => agent.startContainer({ containerId: "x" }),
      UnimplementedError,
    );
    assert(e.message.startsWith("Agent call StartContainer failed (Unimplemented)"), e.message);
    assert(e.cause instanceof ConnectError, "the wire error stays as the cause");
    await assertRejects(() => absent.check({}), UnavailableError);
  } finally {
    agent.close();
    absent.close();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
