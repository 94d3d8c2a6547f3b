/**
 * Allocation of the small byte buffers every call needs (frames, frame data).
 * A new Uint8Array costs several hundred nanoseconds in V8 (more than
 * encoding a small frame), a view of a larger buffer a fraction of that, so
 * small buffers are carved out of shared 16 KiB slabs. A slab region is
 * handed out once and never reused: each buffer is independent memory, and a
 * slab is freed by the GC once no buffer carved from it is alive (one
 * retained buffer keeps its whole slab alive, which bounds the waste).
 * @module
 */

const SLAB_SIZE = 16 * 1024;
/** Larger buffers get their own allocation. */
const MAX_CARVED = 1024;

let slab = new Uint8Array(0);
let used = 0;

/** Returns `size` fresh zeroed bytes (a view of a slab when small). */
export function allocBytes(size: number): Uint8Array {
  if (size > MAX_CARVED) return new Uint8Array(size);
  if (size > slab.length - used) {
    slab = new Uint8Array(SLAB_SIZE);
    used = 0;
  }
  const start = used;
  used += size;
  return slab.subarray(start, used);
}

/** Returns an independent copy of `source[start, end)`. */
export function copyBytes(source: Uint8Array, start: number, end: number): Uint8Array {
  const out = allocBytes(end - start);
  out.set(source.subarray(start, end));
  return out;
}
