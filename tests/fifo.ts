/**
 * FIFOs for tests, made with `mkfifo` as containerd makes its stdio FIFOs.
 * @module
 */

/** Makes a FIFO at `path`; throws naming it when `mkfifo` fails. */
export function mkfifo(path: string): void {
  const out = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  if (!out.success) {
    throw new Error(`mkfifo ${path} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
