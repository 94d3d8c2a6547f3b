/**
 * ioctl(2), with a buffer the kernel reads and/or writes or with an integer
 * argument. Request numbers stay in the `ffi/` module that owns the device.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const libc = lazyLibc({
  ioctl_buf: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  ioctl_val: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
});

/** ioctl(2) with a buffer argument (the kernel reads and/or writes it). */
export function ioctlBuf(
  fd: number,
  request: number | bigint,
  arg: Uint8Array<ArrayBuffer>,
  what = "",
): number {
  return check(libc().ioctl_buf(fd, BigInt(request), arg), "ioctl", what);
}

/** ioctl(2) with an integer argument. */
export function ioctlVal(
  fd: number,
  request: number | bigint,
  arg: number | bigint = 0,
  what = "",
): number {
  return check(libc().ioctl_val(fd, BigInt(request), BigInt(arg)), "ioctl", what);
}
