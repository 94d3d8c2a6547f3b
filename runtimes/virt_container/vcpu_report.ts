/**
 * The vCPU report of a sandbox that failed to start: a guest that never
 * answered the agent says why only in where its vCPUs are (halted, spinning,
 * paused by an internal error), so the driver's report goes to the log
 * before the VM is torn down.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";

const log = getLogger("runtimes.virt_container.sandbox");
/** How long the report may take: a VMM that does not answer must not hold up the clean-up. */
export const VCPU_REPORT_TIMEOUT_MS = 5000;

/**
 * Logs the driver's vCPU report for sandbox `id` when the driver has one and
 * its VM runs; returns the report (undefined when there is none).
 */
export async function logVcpuReport(
  hv: Pick<Hypervisor, "vcpuReport" | "state">,
  id: string,
  timeoutMs = VCPU_REPORT_TIMEOUT_MS,
): Promise<string | undefined> {
  if (!hv.vcpuReport || !["started", "running"].includes(hv.state())) return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const report = await Promise.race([
    hv.vcpuReport().catch((e) => `unreadable: ${e instanceof Error ? e.message : e}`),
    new Promise<string>((r) =>
      timer = setTimeout(() => r(`no answer in ${timeoutMs} ms`), timeoutMs)
    ),
  ]).finally(() => clearTimeout(timer));
  log.warn("sandbox {id}: guest vCPUs at the failure: {report}", { id, report });
  return report;
}
