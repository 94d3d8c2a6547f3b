/**
 * A VM restored from a template starts as a copy of the template's guest:
 * the same random state, the wall clock of the moment the template was
 * saved, the template's NIC MAC. Before any container runs, the runtime
 * makes it its own machine: a fresh random seed (ReseedRandomDev, which the
 * agent credits and forces a CRNG reseed with), the current time
 * (SetGuestDateTime), and the pod's MAC on the template's NIC (UpdateInterface
 * naming the template MAC, see {@link templateNicPath}). The hostname, the
 * shared directory and storages come with CreateSandbox as for any VM, and
 * the vsock connections of the template were reset by the VMM.
 * @module
 */
import type { AgentApi } from "./agent_api.ts";

/** Bytes of the seed handed to a clone (the size of the kernel's input pool). */
export const CLONE_SEED_BYTES = 256;

/** `devicePath` of UpdateInterface for a clone's NIC, probed with `templateMac`. */
export function templateNicPath(templateMac: string): string {
  return `template-mac=${templateMac}`;
}

/** Reseeds the clone's random generator and sets its clock to `now` (ms since the epoch). */
export async function giveCloneIdentity(
  agent: Pick<AgentApi, "reseedRandomDev" | "setGuestDateTime">,
  now = Date.now(),
): Promise<void> {
  await agent.reseedRandomDev({ data: crypto.getRandomValues(new Uint8Array(CLONE_SEED_BYTES)) });
  await agent.setGuestDateTime({
    Sec: BigInt(Math.floor(now / 1000)),
    Usec: BigInt((now % 1000) * 1000),
  });
}
