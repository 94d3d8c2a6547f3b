/**
 * Both event paths into a real containerd: ttRPC `Events/Forward` to its
 * ttRPC socket and the `containerd publish` binary; `ctr events` must show
 * both with the topics and payloads we sent.
 */
import { assert, assertStringIncludes } from "../assert.ts";
import { EventPublisher } from "../../service/events.ts";
import { Containerd } from "./harness.ts";
import { testsNeeding } from "../tier.ts";
import { CONTAINERD_VERSIONS, containerdNeeds, type ContainerdVersion } from "./versions.ts";

for (const version of CONTAINERD_VERSIONS) eventsTest(version);

function eventsTest(version: ContainerdVersion): void {
  testsNeeding(containerdNeeds(version))({
    name: `containerd ${version} events: Forward over ttRPC and the publish binary both reach it`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const c = await Containerd.start({ version });
      const watcher = new Deno.Command(c.ctrBin, {
        args: ["-a", c.address, "events"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      let seen = "";
      const reading = (async () => {
        const dec = new TextDecoder();
        for await (const chunk of watcher.stdout) seen += dec.decode(chunk);
      })();
      const viaTtrpc = new EventPublisher({
        namespace: "default",
        ttrpcAddress: `${c.address}.ttrpc`,
      });
      const viaBinary = new EventPublisher({
        namespace: "default",
        grpcAddress: c.address,
        publishBinary: `${c.binDir}/containerd`,
      });
      try {
        await new Promise((r) => setTimeout(r, 300));
        viaTtrpc.publish({ topic: "/tasks/paused", containerId: "forwarded-one" });
        viaBinary.publish({ topic: "/tasks/oom", containerId: "published-one" });
        assert(await viaTtrpc.flush(10_000), "Forward did not complete");
        assert(await viaBinary.flush(10_000), "publish did not complete");
        for (
          let i = 0;
          i < 100 && !(seen.includes("published-one") && seen.includes("forwarded-one"));
          i++
        ) {
          await new Promise((r) => setTimeout(r, 50));
        }
        assertStringIncludes(seen, "/tasks/paused");
        assertStringIncludes(seen, "forwarded-one");
        assertStringIncludes(seen, "/tasks/oom");
        assertStringIncludes(seen, "published-one");
      } finally {
        viaTtrpc.close();
        viaBinary.close();
        watcher.kill("SIGTERM");
        await watcher.status;
        await reading.catch(() => {});
        await c.stop();
      }
    },
  });
}
