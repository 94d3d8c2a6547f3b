/**
 * The one loader of libc that every other `ffi/` module builds on: each
 * module declares the symbols it calls and binds them lazily through
 * {@link lazyLibc}, so importing a module opens nothing. Errno handling lives
 * in `errno.ts`, fd I/O in `fd.ts`, ioctl in `ioctl.ts`, mmap in `mmap.ts`,
 * eventfd in `eventfd.ts` and poll in `poll.ts`. Nothing outside `ffi/` sees a
 * raw pointer or a syscall number.
 * @module
 */

const LIBC_PATH = "libc.so.6";

/**
 * Binds `symbols` of libc for an `ffi/` module, lazily: libc is opened on the
 * first call of the returned function (so importing is free), once.
 */
export function lazyLibc<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] {
  let lib: Deno.DynamicLibrary<S> | undefined;
  return () => (lib ??= Deno.dlopen(LIBC_PATH, symbols)).symbols;
}

/** A NUL-terminated copy of `s` for C string parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const b = new TextEncoder().encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}
