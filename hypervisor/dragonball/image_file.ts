/**
 * Kernel and initrd files mapped read-only instead of read into the JS heap:
 * the loaders copy only what the guest needs, and the shim's resident memory
 * does not keep a second copy of a 60 MB vmlinux.
 * @module
 */
import { closeFd, O, openFd } from "../../ffi/fd.ts";
import { MAP, map, type Mapping, PROT, unmap } from "../../ffi/mmap.ts";
import { InvalidArgumentError } from "../../common/errors.ts";

/** A mapped file; {@link close} it once the guest is loaded. */
interface ImageFile {
  bytes: Uint8Array<ArrayBuffer>;
  close(): void;
}

/** Maps `path` read-only; `what` names it in errors ("kernel", "initrd"). */
export function mapImageFile(what: string, path: string): ImageFile {
  let size: number;
  try {
    const st = Deno.statSync(path);
    if (!st.isFile) throw new InvalidArgumentError("Not a regular file");
    size = st.size;
  } catch (e) {
    throw new InvalidArgumentError(`Cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (size === 0) throw new InvalidArgumentError(`${what} ${path} is empty`);
  const fd = openFd(path, O.RDONLY);
  let m: Mapping;
  try {
    m = map(size, PROT.READ, MAP.PRIVATE, fd, 0);
  } finally {
    closeFd(fd); // the mapping keeps the file
  }
  let closed = false;
  return {
    bytes: m.bytes,
    close() {
      if (closed) return;
      closed = true;
      unmap(m);
    },
  };
}
