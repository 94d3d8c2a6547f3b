/**
 * The shared namespaces of a pod that has no sandbox (pause) container,
 * which is how containerd's Sandbox API runs a pod: the agent holds them
 * itself, as upstream's agent does. A holder process is started in new IPC,
 * UTS and PID namespaces (busybox `unshare --fork`), with the pod's hostname
 * inherited from the guest's (CreateSandbox set it); it is PID 1 of the
 * pod's PID namespace and reaps the orphans there (busybox sh waits for any
 * child, as the guest's /init does). The pod's containers join its IPC and
 * UTS namespaces, and its PID namespace where the pod shares one.
 * @module
 */
import { FailedPreconditionError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";

const log = getLogger("agent.guest.pod_namespaces");

/** How long the holder's forked child may take to appear. */
const CHILD_WAIT_MS = 5000;

/** The holder of a pod's namespaces; started on first use, once. */
export interface PodNamespaceHolder {
  /** Starts the holder if needed; returns its pid (in the agent's PID namespace). */
  ensure(): Promise<number>;
  /** Ends the holder (every process left in the pod's PID namespace with it). */
  stop(): Promise<void>;
}

/** The parent pid of `pid` (0 when it is gone). */
function parentOf(pid: number): number {
  let stat = "";
  try {
    stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return 0;
  }
  // The command name may hold spaces and parentheses: fields start after the last ")".
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) || 0;
}

/** The pid whose parent is `ppid` (the holder `unshare --fork` made). */
async function childOf(ppid: number): Promise<number | undefined> {
  for await (const e of Deno.readDir("/proc")) {
    if (/^\d+$/.test(e.name) && parentOf(Number(e.name)) === ppid) return Number(e.name);
  }
  return undefined;
}

/** A holder made with the guest's `unshare` (busybox or util-linux). */
export class UnshareHolder implements PodNamespaceHolder {
  #starting: Promise<number> | undefined;
  #unshare: Deno.ChildProcess | undefined;
  #pid = 0;

  /** @param unshare the unshare command (busybox's takes short options only) */
  constructor(readonly unshare: readonly string[] = ["unshare"]) {}

  ensure(): Promise<number> {
    this.#starting ??= this.#start().catch((e) => {
      this.#starting = undefined;
      throw e;
    });
    return this.#starting;
  }

  async #start(): Promise<number> {
    const [cmd, ...pre] = this.unshare;
    const child = new Deno.Command(cmd, {
      args: [...pre, "-i", "-u", "-p", "-f", "sh", "-c", "while :; do sleep 3600; done"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#unshare = child;
    const deadline = Date.now() + CHILD_WAIT_MS;
    let exited = false;
    child.status.then(() => exited = true);
    while (Date.now() < deadline && !exited) {
      const pid = await childOf(child.pid);
      if (pid) {
        this.#pid = pid;
        child.stderr.cancel().catch(() => {});
        log.info("pod namespaces held by pid {pid}", { pid });
        return pid;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const err = exited
      ? new TextDecoder().decode((await child.output().catch(() => undefined))?.stderr).trim()
      : "its child did not appear";
    if (!exited) await this.stop();
    throw new FailedPreconditionError(
      `Cannot hold the pod's namespaces with ${this.unshare.join(" ")}: ${err}`,
    );
  }

  async stop(): Promise<void> {
    const child = this.#unshare;
    if (!child) return;
    // The holder is PID 1 of the pod's PID namespace: SIGKILL ends it and what is
    // left there. Only while it is still unshare's child: its pid is not reused then.
    if (this.#pid && parentOf(this.#pid) === child.pid) {
      try {
        Deno.kill(this.#pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // gone already
    }
    await child.status;
    this.#unshare = undefined;
    this.#starting = undefined;
    this.#pid = 0;
  }
}
