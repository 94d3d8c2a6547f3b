/**
 * Linux namespaces for a child: {@link inChildNamespaces} puts the calling
 * thread into a pod's network namespace and fresh IPC, UTS (with a hostname)
 * and PID namespaces, runs a synchronous spawn there (the child keeps them),
 * and always puts the thread back. Only the calling thread changes, so the
 * rest of a multi-threaded process (Deno's) never leaves its own namespaces.
 * @module
 */
import { cstr, lazyLibc } from "./libc.ts";
import { check } from "./errno.ts";
import { closeFd, O, openFd } from "./fd.ts";
import { FfiError } from "./errors.ts";

const symbols = {
  setns: { parameters: ["i32", "i32"], result: "i32" },
  unshare: { parameters: ["i32"], result: "i32" },
  sethostname: { parameters: ["buffer", "usize"], result: "i32" },
} as const;

const sym = lazyLibc(symbols);

const CLONE = { NEWUTS: 0x04000000, NEWIPC: 0x08000000, NEWPID: 0x20000000, NEWNET: 0x40000000 };

/** Where the child of {@link inChildNamespaces} lives. */
export interface ChildNamespaces {
  /** A network namespace to join (`/var/run/netns/x`); "" keeps the caller's. */
  netns: string;
  /** A new IPC namespace. */
  newIpc: boolean;
  /** A new UTS namespace with this hostname; undefined keeps the caller's. */
  hostname?: string;
  /** A new PID namespace: the child spawned in `fn` is its PID 1. */
  newPid: boolean;
}

/** The longest hostname the kernel takes (HOST_NAME_MAX). */
const HOST_NAME_MAX = 64;

/**
 * Runs `fn` (which spawns a child, synchronously) with the calling thread in
 * the namespaces `ns` describes, then restores the thread's own network,
 * IPC, UTS and PID-for-children namespaces. New namespaces live on only in
 * the child. A failure to restore is fatal to the process: later work must
 * never run in a pod's namespaces.
 */
export function inChildNamespaces<T>(ns: ChildNamespaces, fn: () => T): T {
  if (ns.hostname !== undefined) {
    const len = new TextEncoder().encode(ns.hostname).length;
    if (len === 0 || len > HOST_NAME_MAX) {
      throw new FfiError(
        "InvalidArgument",
        `Hostname ${JSON.stringify(ns.hostname)} must be 1 to ${HOST_NAME_MAX} bytes`,
      );
    }
  }
  const kinds: [keyof typeof CLONE, string, boolean][] = [
    ["NEWNET", "net", ns.netns !== ""],
    ["NEWIPC", "ipc", ns.newIpc],
    ["NEWUTS", "uts", ns.hostname !== undefined],
    ["NEWPID", "pid", ns.newPid],
  ];
  const saved = new Map<keyof typeof CLONE, number>();
  try {
    for (const [flag, name, used] of kinds) {
      if (used) saved.set(flag, openFd(`/proc/thread-self/ns/${name}`, O.RDONLY));
    }
    try {
      if (ns.netns !== "") {
        const target = openFd(ns.netns, O.RDONLY);
        try {
          check(sym().setns(target, CLONE.NEWNET), "setns", ns.netns);
        } finally {
          closeFd(target);
        }
      }
      let flags = 0;
      if (ns.newIpc) flags |= CLONE.NEWIPC;
      if (ns.hostname !== undefined) flags |= CLONE.NEWUTS;
      if (ns.newPid) flags |= CLONE.NEWPID;
      if (flags) check(sym().unshare(flags), "unshare", `flags 0x${flags.toString(16)}`);
      if (ns.hostname !== undefined) {
        const name = cstr(ns.hostname);
        check(sym().sethostname(name, BigInt(name.length - 1)), "sethostname", ns.hostname);
      }
      const out = fn();
      if (out instanceof Promise) {
        throw new FfiError("InvalidArgument", "inChildNamespaces needs a synchronous function");
      }
      return out;
    } finally {
      for (const [flag, fd] of saved) {
        if (sym().setns(fd, CLONE[flag]) < 0) {
          console.error(`setns back to the thread's own ${flag} namespace failed`);
          Deno.exit(70);
        }
      }
    }
  } finally {
    for (const fd of saved.values()) closeFd(fd);
  }
}
