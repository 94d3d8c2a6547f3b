/**
 * The vCPU report of a sandbox that failed to start: a guest that never
 * answered the agent says why only in where its vCPUs are (halted, spinning,
 * paused by an internal error), so the driver's report goes to the log
 * before the VM is torn down.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { settleWithin } from "../../common/time.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";

const log = getLogger("runtimes.virt_container.sandbox");
/** How long the report may take: a VMM that does not answer must not hold up the clean-up. */
const VCPU_REPORT_TIMEOUT_MS = 5000;

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
  let report = `no answer in ${timeoutMs} ms`;
  await settleWithin(
    hv.vcpuReport().then(
      (r) => void (report = r),
      (e) => void (report = `unreadable: ${e instanceof Error ? e.message : e}`),
    ),
    timeoutMs,
  );
  log.warn("sandbox {id}: guest vCPUs at the failure: {report}", { id, report });
  return report;
}
