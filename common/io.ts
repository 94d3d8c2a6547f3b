/**
 * Writing a whole buffer to a Deno writer (a connection, a file, stdout),
 * which may accept only part of it per call.
 * @module
 */

/** Anything with Deno's `write(p): Promise<number>` (bytes written). */
interface PartialWriter {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `data` to `w`, calling `write` until every byte went out. */
export async function writeAll(w: PartialWriter, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await w.write(data.subarray(off));
}

/** Anything with Deno's `writeSync(p): number` (bytes written). */
interface PartialSyncWriter {
  writeSync(p: Uint8Array): number;
}

/**
 * Writes all of `data` to `w` synchronously. For a short-lived action: its
 * first asynchronous file operation starts Deno's I/O thread pool, about 6 ms.
 */
export function writeAllSync(w: PartialSyncWriter, data: Uint8Array): void {
  for (let off = 0; off < data.length;) off += w.writeSync(data.subarray(off));
}
