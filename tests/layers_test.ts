// The layer rule of docs/architecture.md, checked on the whole product, and
// proven on synthetic file sets to catch each kind of violation.
import { assert, assertEquals } from "./assert.ts";
import { checkLayers, edgeAllowed, importsOf, isProductFile, productFiles } from "./layers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("every product import points down the layer order, without cycles", () => {
  const files = productFiles(ROOT);
  assert(files.size > 100, `Only ${files.size} product files found under ${ROOT}`);
  for (const must of ["main.ts", "shim/serve.ts", "runtimes/manager.ts", "ffi/libc.ts"]) {
    assert(files.has(must), `${must} is not among the scanned product files`);
  }
  const violations = checkLayers(files).map((v) => v.message);
  assertEquals(violations, [], `Layer violations:\n${violations.join("\n")}`);
});

Deno.test("runtimes/ never sees transport errors (ConnectError, numeric status codes)", () => {
  const seen = [...productFiles(ROOT)]
    .filter(([path]) => path.startsWith("runtimes/"))
    .filter(([, src]) => /\bConnectError\b|\.code\s*===?\s*\d/.test(src))
    .map(([path]) => path);
  assertEquals(seen, [], "The agent adapter turns transport errors into domain errors");
});

Deno.test("imports are found in every form, comments and packages aside", () => {
  const src = [
    'import { a } from "../common/errors.ts";',
    'import type {\n  B,\n  C,\n} from "./b.ts";',
    'export { d } from "../../persist/mod.ts";',
    'export * from "./e.ts";',
    'import "./side_effect.ts";',
    'const m = await import("../../agent/kata_agent.ts");',
    'const [x] = await Promise.all([\n  import(\n    "./lazy.ts"\n  ),\n]);',
    'import { z } from "zod";',
    '// import { no } from "../shim/serve.ts";',
    ' * {@link import("../shim/start.ts")}',
  ].join("\n");
  assertEquals(
    importsOf("runtimes/virt_container/x.ts", src).map((e) => e.to).sort(),
    [
      "agent/kata_agent.ts",
      "persist/mod.ts",
      "runtimes/common/errors.ts",
      "runtimes/virt_container/b.ts",
      "runtimes/virt_container/e.ts",
      "runtimes/virt_container/lazy.ts",
      "runtimes/virt_container/side_effect.ts",
    ].sort(),
  );
});

Deno.test("the checker fails on a planted upward import (static and dynamic)", () => {
  const clean = new Map([
    ["shim/serve.ts", 'import { TaskService } from "../service/task_service.ts";'],
    ["service/task_service.ts", 'import type { RuntimeHandler } from "../runtimes/handler.ts";'],
    ["runtimes/handler.ts", 'import { NotFoundError } from "../common/errors.ts";'],
    ["common/errors.ts", "export class NotFoundError extends Error {}"],
  ]);
  assertEquals(checkLayers(clean), []);
  // A runtime reaching up into the service: the edge and its reason are named.
  const upward = new Map(clean).set(
    "runtimes/handler.ts",
    'import { toStatusError } from "../service/errors.ts";',
  );
  assertEquals(checkLayers(upward).map((v) => v.message), [
    "runtimes/handler.ts:1 imports service/errors.ts: service/ is above runtimes/",
    // With service/ importing runtimes/, the upward edge also closes a loop.
    "Folders import each other in a cycle: runtimes ↔ service",
  ]);
  const lazy = new Map(clean).set(
    "common/errors.ts",
    'export const load = () => import("../shim/serve.ts");',
  );
  const v = checkLayers(lazy).map((x) => x.message);
  assert(v.some((m) => m.includes("common/errors.ts:1 imports shim/serve.ts")), v.join("\n"));
});

Deno.test("the checker names peers, leaves, tests and narrow rules", () => {
  assertEquals(edgeAllowed("resource", "hypervisor"), null, "resource uses device types");
  assert(edgeAllowed("resource", "agent")?.includes("peer"), "runtimes/ talks to the agent");
  assert(edgeAllowed("hypervisor", "resource")?.includes("peer"));
  assert(edgeAllowed("agent", "hypervisor")?.includes("peer"));
  assert(edgeAllowed("config", "ttrpc")?.includes("peer"));
  assert(edgeAllowed("common", "ffi")?.includes("imports nothing of ours"));
  assert(edgeAllowed("ffi", "common")?.includes("imports nothing of ours"));
  assert(edgeAllowed("ttrpc", "tests")?.includes("not product code"));
  assert(edgeAllowed("persist", "main.ts")?.includes("above every layer"));
  assertEquals(edgeAllowed("main.ts", "shim"), null);
  const narrow = checkLayers(
    new Map([[
      "service/task_service.ts",
      'const h = await import("../runtimes/virt_container/handler.ts");',
    ]]),
  ).map((v) => v.message);
  assertEquals(narrow.length, 1);
  assert(narrow[0].includes("sees only the RuntimeHandler interface"), narrow[0]);
});

Deno.test("the checker fails on import cycles between files and between folders", () => {
  const files = new Map([
    ["runtimes/events.ts", 'import type { X } from "./handler.ts";'],
    ["runtimes/handler.ts", 'import type { Y } from "./events.ts";'],
    ["hypervisor/qemu/a.ts", 'import { b } from "../firecracker/b.ts";'],
    ["hypervisor/firecracker/b.ts", 'import { c } from "../qemu/c.ts";'],
    ["hypervisor/qemu/c.ts", "export const c = 1;"],
    // A parent folder and its child importing each other is one unit (interface + factory).
    ["hypervisor/factory.ts", 'import { c } from "./qemu/c.ts";'],
    ["hypervisor/qemu/d.ts", 'import { f } from "../factory.ts";'],
  ]);
  assertEquals(checkLayers(files).map((v) => v.message).sort(), [
    "Files import each other in a cycle: runtimes/events.ts ↔ runtimes/handler.ts",
    "Folders import each other in a cycle: hypervisor/firecracker ↔ hypervisor/qemu",
  ]);
});

Deno.test("product files are the layers' .ts files, tests and generated code aside", () => {
  assert(isProductFile("main.ts"));
  assert(isProductFile("runtimes/virt_container/handler.ts"));
  assert(!isProductFile("runtimes/virt_container/handler_test.ts"));
  assert(!isProductFile("ttrpc/echo_testing.ts"), "fixtures beside the code are test code");
  assert(!isProductFile("agent/gen/agent_pb.ts"));
  assert(!isProductFile("tests/assert.ts"));
  assert(!isProductFile("scripts/build.ts"));
  assert(!isProductFile("bench/main.ts"));
});

Deno.test("the checker fails on a product file importing a test or a fixture", () => {
  const files = new Map([
    ["ttrpc/server.ts", 'import { startEchoServer } from "./echo_testing.ts";'],
    ["ttrpc/client.ts", 'import { x } from "./client_test.ts";'],
  ]);
  assertEquals(checkLayers(files).map((v) => v.message), [
    "ttrpc/server.ts:1 imports ttrpc/echo_testing.ts: a test or test fixture",
    "ttrpc/client.ts:1 imports ttrpc/client_test.ts: a test or test fixture",
  ]);
});
