/**
 * Guest boot to agent ready, as a benchmark table. The boot is the one the VM
 * group's tests/vm/agent_test.ts does anyway (QEMU -accel kvm inside the test
 * host where this machine has no usable KVM, which takes minutes to set up):
 * that test keeps its figure in `.cache/bench/guest-boot.json` (git-ignored)
 * and this module, run by `deno task bench guest-boot`, writes the table, so
 * tests never modify the tracked bench/results/.
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Where tests/vm/agent_test.ts keeps its last measurement. */
export const GUEST_BOOT_RECORD = `${ROOT}/.cache/bench/guest-boot.json`;

/** One measurement. */
export interface GuestBootRecord {
  /** ISO time of the measurement. */
  when: string;
  /** "KVM" or "nested KVM in the TCG test host". */
  where: string;
  /** Spawning QEMU until the agent answered, in ms. */
  ms: number;
}

/** The markdown table for one record. */
export function table(r: GuestBootRecord): string {
  return [
    "# Guest boot to agent ready",
    "",
    "Measured by tests/vm/agent_test.ts in the VM group (`scripts/test-vm`), written here by",
    "`deno task bench guest-boot`: time from spawning QEMU (-accel kvm, 1 vCPU, 1 GiB, Debian",
    "vmlinux + the runtime-ts initrd) until the guest agent answers grpc.Health/Check over vsock.",
    "Includes Deno's start of the bundled agent inside the guest.",
    "",
    "| when (UTC) | where | boot to agent ready |",
    "|---|---|---|",
    `| ${r.when.slice(0, 16)} | ${r.where} | ${(r.ms / 1000).toFixed(1)} s |`,
    "",
  ].join("\n");
}

/** The benchmark entry point: the table of the VM group's last measurement. */
export async function run(): Promise<string> {
  const text = await Deno.readTextFile(GUEST_BOOT_RECORD).catch(() => {
    throw new Error(
      `No guest boot measurement at ${GUEST_BOOT_RECORD}: run scripts/test-vm tests/vm/agent_test.ts first`,
    );
  });
  return table(JSON.parse(text) as GuestBootRecord);
}
