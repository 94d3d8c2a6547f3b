import { assert, assertEquals } from "../tests/assert.ts";
import {
  identify,
  isProcessIdentity,
  isSameProcess,
  killIdentified,
  parseStartTime,
  processStartTime,
} from "./process_identity.ts";

Deno.test("parseStartTime counts fields after the last ')' (names may hold spaces and parens)", () => {
  const rest = Array.from({ length: 50 }, (_, i) => String(i + 3));
  rest[0] = "S";
  const line = `1234 (we ird) (name)) ${rest.join(" ")}`;
  assertEquals(parseStartTime(line), "22");
  assertEquals(parseStartTime("garbage"), null);
  assertEquals(parseStartTime("1 (x) S 1 2"), null);
});

Deno.test("identify reads pid, start time and executable of a live process", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const id = identify(child.pid)!;
    assertEquals(id.pid, child.pid);
    assertEquals(id.start_time, processStartTime(child.pid));
    assert(id.exe.endsWith("/sleep"), id.exe);
    assert(isProcessIdentity(id));
    assert(isSameProcess(id));
    assertEquals(isSameProcess({ ...id, start_time: String(Number(id.start_time) + 1) }), false);
    assertEquals(isSameProcess({ ...id, exe: "/usr/bin/qemu-system-x86_64" }), false);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assertEquals(identify(child.pid), null);
});

Deno.test("killIdentified leaves a process with another start time or executable alone", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const id = identify(child.pid)!;
    const other = { ...id, start_time: String(Number(id.start_time) - 5) };
    assertEquals(await killIdentified(other), "not_ours");
    assertEquals(await killIdentified({ ...id, exe: "/bin/other" }), "not_ours");
    assertEquals(isSameProcess(id), true, "the process still runs");
    assertEquals(await killIdentified(id), "killed");
    const s = await child.status;
    assertEquals(s.signal, "SIGKILL");
    assertEquals(await killIdentified(id), "gone");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  }
});

Deno.test("malformed records never match", () => {
  for (
    const bad of [
      null,
      {},
      { pid: Deno.pid, start_time: "", exe: Deno.execPath() },
      { pid: Deno.pid, start_time: processStartTime(Deno.pid), exe: "" },
      { pid: 1, start_time: processStartTime(1), exe: "/sbin/init" },
      { pid: "12", start_time: "1", exe: "/x" },
    ]
  ) {
    assertEquals(isProcessIdentity(bad), false, JSON.stringify(bad));
    assertEquals(isSameProcess(bad as never), false);
  }
});
