import { assertEquals, assertRejects } from "../../tests/assert.ts";
import { UndoStack } from "./undo.ts";

Deno.test("undo runs stop, then unmount, then remove, newest first within each phase", async () => {
  const calls: string[] = [];
  const u = new UndoStack("sb");
  u.push("prepare", "remove", () => void calls.push("files"));
  u.push("share", "unmount", () => void calls.push("unmount"));
  u.push("vm", "stop", () => void calls.push("vm"));
  u.push("cgroup", "remove", () => void calls.push("cgroup"));
  u.push("agent", "stop", () => void calls.push("agent"));
  await u.unwind("/nonexistent/undo-test");
  assertEquals(calls, ["agent", "vm", "unmount", "cgroup", "files"]);
  await u.unwind("/nonexistent/undo-test"); // emptied: nothing runs twice
  assertEquals(calls.length, 5);
});

Deno.test("a failed unmount skips every removal and is reported", async () => {
  const calls: string[] = [];
  const u = new UndoStack("sb");
  u.push("prepare", "remove", () => void calls.push("files"));
  u.push("share", "unmount", () => {
    throw new Error("Cannot remove /x: /x/y is still mounted");
  });
  u.push("vm", "stop", () => void calls.push("vm"));
  await assertRejects(() => u.unwind("/nonexistent/undo-test"), Error, "/x/y is still mounted");
  assertEquals(calls, ["vm"]);
});
