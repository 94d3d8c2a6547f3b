/**
 * mmap(2) and munmap(2): guest memory, image files and KVM's shared vCPU
 * run areas. A {@link Mapping} is unmapped exactly once by its owner.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check, errno, SysError } from "./errno.ts";

const libc = lazyLibc({
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
});

/** mmap(2) protections and flags used by the project. */
export const PROT = { READ: 1, WRITE: 2 } as const;
export const MAP = { SHARED: 1, PRIVATE: 2, ANONYMOUS: 0x20, NORESERVE: 0x4000 } as const;

/** A mapped memory region; {@link unmap} it exactly once. */
export interface Mapping {
  pointer: Deno.PointerObject;
  length: number;
  /** A view of the whole mapping (valid until unmapped). */
  bytes: Uint8Array<ArrayBuffer>;
}

/** mmap(2): maps `length` bytes of `fd` (or anonymous memory when fd is -1). */
export function map(length: number, prot: number, flags: number, fd = -1, offset = 0): Mapping {
  const p = libc().mmap(null, BigInt(length), prot, flags, fd, BigInt(offset));
  if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
    throw new SysError("mmap", errno(), `${length} bytes`);
  }
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, length));
  return { pointer: p, length, bytes };
}

/** munmap(2). */
export function unmap(m: Mapping): void {
  check(libc().munmap(m.pointer, BigInt(m.length)), "munmap");
}
