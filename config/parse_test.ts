import { assertEquals, assertStringIncludes, assertThrows } from "../tests/assert.ts";
import { ConfigError } from "../common/errors.ts";
import { parseConfigTree, sectionName } from "./parse.ts";
import { Sources } from "./sources.ts";

Deno.test("parseConfigTree fills upstream defaults for an empty file", () => {
  const c = parseConfigTree({}, new Sources("/f.toml"));
  assertEquals(c.hypervisor, {});
  assertEquals(c.runtime.passfd_listener_port, 1027);
  assertEquals(c.runtime.log_level, "info");
  assertEquals(c.linux_container.oci_runtime, "runc");
});

Deno.test("parseConfigTree: a table where a value belongs, and the reverse, are refused", () => {
  const e = assertThrows(
    () => parseConfigTree({ runtime: 3, hypervisor: { qemu: 1 } }, new Sources("/f.toml")),
    ConfigError,
  );
  assertStringIncludes(e.message, 'key "qemu" in section [hypervisor] of /f.toml must be a table');
  assertStringIncludes(
    e.message,
    'invalid value for key "runtime" in section top level of /f.toml',
  );
  const e2 = assertThrows(
    () => parseConfigTree({ runtime: { name: { x: 1 } } }, new Sources("/f.toml")),
    ConfigError,
  );
  assertStringIncludes(e2.message, 'key "name" in section [runtime]');
});

Deno.test("parseConfigTree: an unknown agent is refused", () => {
  assertThrows(
    () => parseConfigTree({ agent: { grpc: {} } }, new Sources("/f.toml")),
    ConfigError,
    'unknown agent "grpc"',
  );
});

Deno.test("sectionName renders TOML headers", () => {
  assertEquals(sectionName(["hypervisor", "qemu"]), "[hypervisor.qemu]");
  assertEquals(sectionName([]), "top level");
});
