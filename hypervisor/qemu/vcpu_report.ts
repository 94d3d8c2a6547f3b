/**
 * Where a QEMU guest's vCPUs are, in one line, for a guest that stopped
 * answering: QEMU's run state plus, per vCPU, the instruction pointer and
 * whether it is halted, read from HMP `info registers -a` through QMP. A
 * guest stuck in a loop, halted with interrupts off, or paused by an
 * internal error each read differently here.
 * @module
 */

/** What {@link vcpuReport} needs of a QMP client. */
interface QmpLike {
  queryStatus(): Promise<{ status: string; running: boolean }>;
  execute<T>(command: string, args?: Record<string, unknown>): Promise<T>;
}

/** `CPU#0 RIP=ffffffff81e0f2f2 HLT=1` per vCPU, from `info registers -a` text. */
export function summarizeRegisters(text: string): string[] {
  const out: string[] = [];
  let cpu = "";
  for (const line of text.split(/\r?\n/)) {
    const header = line.match(/^CPU#(\d+)/);
    if (header) {
      cpu = `CPU#${header[1]}`;
      continue;
    }
    const rip = line.match(/\bRIP=([0-9a-f]+)/);
    if (!rip) continue;
    const hlt = line.match(/\bHLT=(\d)/)?.[1] ?? "?";
    const cpl = line.match(/\bCPL=(\d)/)?.[1] ?? "?";
    out.push(`${cpu || `CPU#${out.length}`} RIP=${rip[1]} CPL=${cpl} HLT=${hlt}`);
    cpu = "";
  }
  return out;
}

/** QEMU's run state and each vCPU's RIP and halt state, as one line. */
export async function vcpuReport(qmp: QmpLike): Promise<string> {
  const st = await qmp.queryStatus();
  const regs = await qmp.execute<string>("human-monitor-command", {
    "command-line": "info registers -a",
  });
  const cpus = summarizeRegisters(regs);
  return `QEMU status ${st.status}; ${cpus.length > 0 ? cpus.join(", ") : "no vCPU registers"}`;
}
