/**
 * eventfd(2): the counter fds that carry interrupts to KVM (irqfd), wake a
 * waiting reader, and receive cgroup OOM notifications.
 * @module
 */
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";

const libc = lazyLibc({
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
});

/** eventfd(2) with EFD_CLOEXEC | `flags`. */
export function eventFd(initial = 0, flags = 0): number {
  const EFD_CLOEXEC = 0o2000000;
  return check(libc().eventfd(initial, flags | EFD_CLOEXEC), "eventfd");
}
