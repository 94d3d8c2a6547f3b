import { assertEquals, assertThrows } from "../tests/assert.ts";
import { HelpRequested } from "../common/flags.ts";
import { parseInvocation } from "./options.ts";
import { InvalidArgumentError } from "../common/errors.ts";

Deno.test("containerd 1.6 start argv", () => {
  const inv = parseInvocation([
    "-namespace",
    "default",
    "-address",
    "/run/containerd/containerd.sock",
    "-publish-binary",
    "/usr/bin/containerd",
    "-id",
    "c1",
    "-debug",
    "start",
  ]);
  assertEquals(inv.action, "start");
  assertEquals(inv.flags.namespace, "default");
  assertEquals(inv.flags.address, "/run/containerd/containerd.sock");
  assertEquals(inv.flags["publish-binary"], "/usr/bin/containerd");
  assertEquals(inv.flags.id, "c1");
  assertEquals(inv.flags.debug, true);
  assertEquals(inv.args, []);
});

Deno.test("containerd delete argv with -bundle, serve with no action", () => {
  const del = parseInvocation([
    "-namespace",
    "k8s.io",
    "-address",
    "/a.sock",
    "-publish-binary",
    "/bin/c",
    "-id",
    "x",
    "-bundle",
    "/run/b",
    "delete",
  ]);
  assertEquals(del.action, "delete");
  assertEquals(del.flags.bundle, "/run/b");
  assertEquals(del.flags.debug, false);
  const serve = parseInvocation(["-namespace", "n", "-id", "x", "-address", "/a"]);
  assertEquals(serve.action, "");
});

Deno.test("double dash, =value and bool forms", () => {
  const inv = parseInvocation(["--namespace=ns", "--id", "i", "-debug=false", "-v"]);
  assertEquals(inv.flags.namespace, "ns");
  assertEquals(inv.flags.id, "i");
  assertEquals(inv.flags.debug, false);
  assertEquals(inv.flags.v, true);
  assertEquals(inv.action, "");
});

Deno.test("a bool flag never consumes the next argument", () => {
  const inv = parseInvocation(["-debug", "delete"]);
  assertEquals(inv.flags.debug, true);
  assertEquals(inv.action, "delete");
});

Deno.test("a string flag takes the next argument even when it starts with a dash", () => {
  const inv = parseInvocation(["-id", "-weird", "start"]);
  assertEquals(inv.flags.id, "-weird");
});

Deno.test("parsing stops at the first positional and at --", () => {
  const inv = parseInvocation(["-id", "a", "env", "--config", "f.toml"]);
  assertEquals(inv.action, "env");
  assertEquals(inv.args, ["--config", "f.toml"]);
  const dd = parseInvocation(["--", "-id"]);
  assertEquals(dd.action, "-id");
});

Deno.test("unknown flags and missing values are usage errors naming the flag", () => {
  const e = assertThrows(() => parseInvocation(["-bogus", "start"]), InvalidArgumentError);
  assertEquals(e.message, "Flag provided but not defined: -bogus");
  const m = assertThrows(() => parseInvocation(["-id"]), InvalidArgumentError);
  assertEquals(m.message, "Flag needs an argument: -id");
  assertThrows(() => parseInvocation(["-debug=maybe"]), InvalidArgumentError, "-debug");
  assertThrows(() => parseInvocation(["---id", "x"]), InvalidArgumentError, "Bad flag syntax");
  assertThrows(() => parseInvocation(["-h"]), HelpRequested);
});
