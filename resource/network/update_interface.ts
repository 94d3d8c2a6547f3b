/**
 * UpdateInterface with the retry of runtime-rs PR #12771: the agent answers
 * "Link not found" until the guest's NIC appears (slow on virtio-mmio VMMs),
 * so only that error is retried (100 times, 100 ms apart); any other error
 * fails at once.
 * @module
 */
import { NotFoundError } from "../../common/errors.ts";
import type { AgentInterface } from "./agent_types.ts";

/** Options of {@link updateInterfaceWithRetry}. */
interface RetryOptions {
  attempts?: number;
  delayMs?: number;
  /** Sleep used between attempts (tests pass an instant one). */
  sleep?: (ms: number) => Promise<void>;
}

const LINK_NOT_FOUND = "Link not found";

/** True when `e` is the agent's "Link not found" error. */
export function isLinkNotFound(e: unknown): boolean {
  return String(e instanceof Error ? e.message : e).includes(LINK_NOT_FOUND);
}

/**
 * Calls `update(iface)` until it succeeds, retrying only "Link not found";
 * after the last attempt the last error is rethrown with the count added.
 */
export async function updateInterfaceWithRetry<T>(
  update: (iface: AgentInterface) => Promise<T>,
  iface: AgentInterface,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 100;
  const delayMs = opts.delayMs ?? 100;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let i = 1;; i++) {
    try {
      return await update(iface);
    } catch (e) {
      if (!isLinkNotFound(e)) throw e;
      if (i >= attempts) {
        throw new NotFoundError(
          `Update interface ${iface.name}: guest link still not found after ${attempts} attempts`,
          { cause: e },
        );
      }
      await sleep(delayMs);
    }
  }
}
