/**
 * containerd's stdio URIs (a FIFO path, `fifo://`, `file://`; `binary://` is
 * refused) and opening an output destination, as both runtimes copy a
 * process's output: FIFOs read-write, so a write never fails with EPIPE
 * while containerd (their reader) is away.
 * @module
 */
import { UnimplementedError } from "../common/errors.ts";

/** Splits a containerd stdio URI into its kind and path. */
export function parseStdioUri(uri: string): { kind: "fifo" | "file"; path: string } {
  if (uri.startsWith("binary://")) {
    throw new UnimplementedError(`Stdio ${uri}: logging binaries (binary://) are not supported`);
  }
  if (uri.startsWith("file://")) return { kind: "file", path: uri.slice(7) };
  if (uri.startsWith("fifo://")) return { kind: "fifo", path: uri.slice(7) };
  return { kind: "fifo", path: uri };
}

/** Opens a stdio output destination: a file (appended to, made if missing) or a FIFO. */
export async function openStdioOutput(uri: string): Promise<Deno.FsFile> {
  const { kind, path } = parseStdioUri(uri);
  if (kind === "file") return await Deno.open(path, { write: true, create: true, append: true });
  return await Deno.open(path, { read: true, write: true });
}
