/**
 * Debian's `promtool check metrics` (package prometheus) on exposition text,
 * for the management socket's tests. A test that calls it declares the peer
 * (`needs({ peers: [PROMTOOL] })` from `tests/tier.ts`), so a machine without
 * promtool reports that test as ignored instead of passing it unchecked.
 * @module
 */

/** The executable, for `needs({ peers: [...] })`. */
export const PROMTOOL = "promtool";

/** Runs `promtool check metrics` on `text` (spawning it fails where it is not installed). */
export async function promtoolCheck(text: string): Promise<{ ok: boolean; out: string }> {
  const child = new Deno.Command(PROMTOOL, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const o = await child.output();
  const out = new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr);
  // promtool exits 3 for lint problems (naming advice), 1 for unparsable text: both fail here.
  return { ok: o.code === 0, out };
}
