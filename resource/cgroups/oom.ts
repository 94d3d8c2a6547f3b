/**
 * OOM notifications for a container's memory cgroup, so the shim can
 * publish `/tasks/oom`: on cgroup v1 an eventfd registered through
 * `cgroup.event_control` for `memory.oom_control`; on cgroup v2 the
 * `oom_kill` counter of `memory.events`, polled (the unified hierarchy has
 * no eventfd interface).
 * @module
 */
import { exists } from "../../common/fs.ts";
import { closeFd, O, openFd, readFdAsync, writeFd } from "../../ffi/fd.ts";
import { eventFd } from "../../ffi/eventfd.ts";
import { parseFlatKeyed, parseProcCgroup } from "./stats.ts";

const V2_POLL_MS = 1000;

/** A running OOM watch; `close()` stops it. */
export interface OomWatch {
  close(): void;
}

/**
 * Calls `onOom` each time a process in `pid`'s memory cgroup is OOM-killed,
 * until the cgroup goes away or the watch is closed. Returns undefined when
 * the pid has no memory cgroup to watch.
 */
export function watchOom(
  pid: number,
  onOom: () => void,
  root = "/sys/fs/cgroup",
): OomWatch | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
  } catch {
    return undefined;
  }
  const paths = parseProcCgroup(text);
  const v1 = paths.get("memory");
  if (v1 !== undefined) return watchV1(`${root}/memory${v1}`, onOom);
  const v2 = paths.get("");
  if (v2 !== undefined) return watchV2(`${root}${v2}`, onOom);
  return undefined;
}

function watchV1(dir: string, onOom: () => void): OomWatch | undefined {
  let control = -1;
  let efd = -1;
  try {
    control = openFd(`${dir}/memory.oom_control`, O.RDONLY);
    efd = eventFd(0, 0);
    Deno.writeTextFileSync(`${dir}/cgroup.event_control`, `${efd} ${control}`);
  } catch {
    if (efd >= 0) closeFd(efd);
    if (control >= 0) closeFd(control);
    return undefined;
  }
  let closed = false;
  const release = () => {
    if (closed) return;
    closed = true;
    closeFd(control);
    // Writing to the eventfd ends a pending read; the fd is closed by the loop.
    try {
      writeFd(efd, new Uint8Array(new BigUint64Array([1n]).buffer));
    } catch {
      // the loop has ended already
    }
  };
  (async () => {
    const buf = new Uint8Array(8);
    try {
      for (;;) {
        await readFdAsync(efd, buf);
        if (closed) break;
        // The kernel also signals once when the cgroup is removed.
        if (!exists(dir)) break;
        onOom();
      }
    } catch {
      // eventfd gone: stop
    } finally {
      release();
      closeFd(efd);
    }
  })();
  return { close: release };
}

/** cgroup v2: polls `<dir>/memory.events` for a growing `oom_kill` count. */
export function watchV2(dir: string, onOom: () => void): OomWatch | undefined {
  const read = () => {
    try {
      return parseFlatKeyed(Deno.readTextFileSync(`${dir}/memory.events`)).get("oom_kill") ?? 0n;
    } catch {
      return undefined;
    }
  };
  let last = read();
  if (last === undefined) return undefined;
  const timer = setInterval(() => {
    const now = read();
    if (now === undefined) {
      clearInterval(timer);
      return;
    }
    if (last !== undefined && now > last) onOom();
    last = now;
  }, V2_POLL_MS);
  // An idle poll must not keep the shim alive on its own.
  Deno.unrefTimer(timer);
  return { close: () => clearInterval(timer) };
}
