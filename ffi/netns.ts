/**
 * Network namespaces: run a synchronous function with the calling thread
 * inside another network namespace and always put the thread back, also when
 * the function throws. Sockets and tun fds opened inside stay bound to that
 * namespace after the thread returns, which is how the rest of `ffi/` works
 * in a pod's netns without subprocesses.
 * @module
 */
import { FfiError } from "./errors.ts";
import { lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";
import { closeFd, O, openFd } from "./fd.ts";

const symbols = {
  setns: { parameters: ["i32", "i32"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

const CLONE_NEWNET = 0x40000000;

/**
 * Runs `fn` with the calling thread in the network namespace at `path`
 * (e.g. `/run/netns/x` or `/proc/<pid>/ns/net`). `fn` must be synchronous:
 * an `await` inside would let unrelated JS run in the wrong namespace.
 * An empty path runs `fn` in the current namespace.
 */
export function inNetns<T>(path: string, fn: () => T): T {
  if (path === "") return fn();
  const self = openFd("/proc/thread-self/ns/net", O.RDONLY);
  try {
    const target = openFd(path, O.RDONLY);
    try {
      check(sym().setns(target, CLONE_NEWNET), "setns", path);
    } finally {
      closeFd(target);
    }
    try {
      const out = fn();
      if (out instanceof Promise) {
        throw new FfiError("InvalidArgument", "inNetns needs a synchronous function");
      }
      return out;
    } finally {
      // Failing to return is unrecoverable for this thread: crash loudly rather
      // than let later work run in the pod's namespace.
      const rc = sym().setns(self, CLONE_NEWNET);
      if (rc < 0) {
        console.error(`setns back to the thread's own network namespace failed`);
        Deno.exit(70);
      }
    }
  } finally {
    closeFd(self);
  }
}
