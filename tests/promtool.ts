/**
 * Debian's `promtool check metrics` (package prometheus) on exposition text,
 * for the management socket's tests; undefined where promtool is missing
 * (the caller skips that check with a message).
 * @module
 */

/** Runs `promtool check metrics` on `text`; undefined when promtool is not installed. */
export async function promtoolCheck(
  text: string,
): Promise<{ ok: boolean; out: string } | undefined> {
  let child;
  try {
    child = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    return undefined;
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const o = await child.output();
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  // promtool exits 3 for lint problems (naming advice), 1 for unparsable text: both fail here.
  return { ok: o.code === 0, out };
}
