/**
 * How the VirtContainer runtime learns a guest process's exit status: the
 * agent's WaitProcess, or 255 where the agent (and so the VM) is gone.
 * @module
 */
import { CanceledError, UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { type AgentApi, NO_DEADLINE } from "./agent_api.ts";
import type { VirtProcess } from "./container.ts";

const log = getLogger("runtimes.virt_container");

/** Exit status given to tasks whose VM died (what containerd shows for a lost task). */
export const VM_DEATH_EXIT_STATUS = 255;

/** The agent's connection broke or closed: the VM is gone or going. */
function isDeadAgentError(e: unknown): boolean {
  return e instanceof UnavailableError || e instanceof CanceledError;
}

/**
 * Waits for the exit of process `p` of container `containerId` in the guest.
 * Returns its status, {@link VM_DEATH_EXIT_STATUS} when the wait failed, or
 * undefined when the process was given an exit meanwhile (VM death, delete).
 */
export async function waitExitStatus(
  agent: AgentApi,
  containerId: string,
  p: VirtProcess,
): Promise<number | undefined> {
  try {
    const r = await agent.waitProcess({ containerId, execId: p.execId }, NO_DEADLINE);
    return r.status;
  } catch (e) {
    if (p.exited) return undefined;
    if (!isDeadAgentError(e)) {
      log.warn("WaitProcess of {cid}/{eid} failed: {e}", {
        cid: containerId,
        eid: p.execId,
        e: String(e),
      });
    }
    return VM_DEATH_EXIT_STATUS;
  }
}
