/**
 * Watches the memory files of VMs restored from a template: a file
 * truncated under a VM takes the guest's unwritten pages with it, and the
 * next access faults (the guest, or this process when a device reads guest
 * memory). The read lease each such memory holds (memory.ts) makes the
 * kernel send SIGIO before another process truncates or writes the file and
 * hold that process back until the memory is closed; the size is also
 * checked every {@link CHECK_MS} ms for what a lease cannot see (a lease
 * refused because a writer had the file open already). A problem stops the
 * VM through `onProblem`, which releases its memory and with it the lease.
 * @module
 */
import type { GuestMemory } from "./memory.ts";
import { onLeaseBreak } from "../../ffi/lease.ts";

/** How often the sizes are checked besides SIGIO. */
const CHECK_MS = 100;

const watched = new Map<GuestMemory, (why: string) => void>();
let stopListening: (() => void) | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function checkAll(): void {
  for (const [memory, onProblem] of [...watched]) {
    let why: string | undefined;
    try {
      why = memory.fileProblem();
    } catch (e) {
      why = `Memory file ${memory.file?.path} cannot be checked: ${(e as Error).message}`;
    }
    if (why) {
      watched.delete(memory);
      onProblem(why);
    }
  }
  if (watched.size === 0) idle();
}

function idle(): void {
  if (timer !== undefined) clearInterval(timer);
  timer = undefined;
  stopListening?.();
  stopListening = undefined;
}

/**
 * Calls `onProblem` (once) when `memory`'s file is about to change or has
 * shrunk; returns the function that stops watching.
 */
export function watchMemoryFile(memory: GuestMemory, onProblem: (why: string) => void): () => void {
  watched.set(memory, onProblem);
  stopListening ??= onLeaseBreak(checkAll);
  timer ??= setInterval(checkAll, CHECK_MS);
  return () => {
    watched.delete(memory);
    if (watched.size === 0) idle();
  };
}
