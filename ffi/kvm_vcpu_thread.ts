/**
 * One dedicated OS thread per vCPU that loops on KVM_RUN.
 *
 * Why a Worker and not a `nonblocking` FFI call: nonblocking calls run on a
 * pool of threads, and KVM does an RCU synchronisation whenever a different
 * thread enters KVM_RUN for a vCPU, which would cost milliseconds per exit.
 * The worker calls KVM_RUN synchronously on its own thread; after each exit
 * it posts a message and parks (Atomics.wait) until the JS thread has
 * emulated the access and calls {@link VcpuThread.resume}. Stopping sets
 * `immediate_exit` and kicks the thread out of the kernel with SIGUSR2 (a
 * handler is installed, so the signal only interrupts KVM_RUN).
 *
 * The worker's source is a string (started from a blob URL) so that bundled
 * builds, which cannot carry extra module files, still have it.
 * @module
 */
import { FfiError } from "./errors.ts";
import type { KvmRun } from "./kvm.ts";

const WORKER_SOURCE = `
const lib = Deno.dlopen("libc.so.6", {
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  gettid: { parameters: [], result: "i32" },
  prctl: { parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
});
const PR_SET_NAME = 15;
const EINTR = 4;
const EAGAIN = 11; // an AP woken by INIT/SIPI while still uninitialised: run again
const KVM_RUN = 0xae80n;
function errno() {
  const p = lib.symbols.__errno_location();
  return new Deno.UnsafePointerView(p).getInt32();
}
self.onmessage = (e) => {
  const { fd, control, id } = e.data;
  // Named like QEMU's vCPU threads ("CPU 0/KVM"): vCPU pinning and top find them by name.
  if (id !== undefined) lib.symbols.prctl(PR_SET_NAME, new TextEncoder().encode("CPU " + id + "/KVM\0"), 0n, 0n, 0n);
  const c = new Int32Array(control);
  self.postMessage({ type: "ready", tid: lib.symbols.gettid() });
  for (;;) {
    if (Atomics.load(c, 1) === 1) break;
    const rc = lib.symbols.ioctl(fd, KVM_RUN, 0n);
    if (Atomics.load(c, 1) === 1) break;
    if (rc < 0) {
      const err = errno();
      if (err === EINTR || err === EAGAIN) continue;
      self.postMessage({ type: "error", errno: err });
      break;
    }
    Atomics.store(c, 0, 0);
    self.postMessage({ type: "exit" });
    Atomics.wait(c, 0, 0);
  }
  self.postMessage({ type: "stopped" });
  lib.close();
};
`;

const SIGUSR2 = 12;
const KICK_INTERVAL_MS = 5;

const sys = {
  tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getpid: { parameters: [], result: "i32" },
  dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
  signal: { parameters: ["i32", "pointer"], result: "pointer" },
} as const;
let lib: Deno.DynamicLibrary<typeof sys> | undefined;
function libc() {
  lib ??= Deno.dlopen("libc.so.6", sys);
  return lib.symbols;
}

let workerUrl: string | undefined;
let kickHandlerInstalled = false;

/**
 * Installs a SIGUSR2 handler that does nothing, so the kick interrupts
 * KVM_RUN (EINTR) without killing the process. The handler is libc's
 * `getpid`: harmless, async-signal-safe, and needs no JS on the vCPU thread.
 * It stays installed for the life of the process (Deno's own signal
 * listeners restore the default action when removed, which would turn a late
 * kick into a kill).
 */
function installKickHandler(): void {
  if (kickHandlerInstalled) return;
  const fn = libc().dlsym(null, new TextEncoder().encode("getpid\0"));
  if (!fn) throw new FfiError("Internal", "Cannot find getpid for the vCPU kick handler");
  const SIG_ERR = 0xffffffffffffffffn;
  const old = libc().signal(SIGUSR2, fn);
  if (old !== null && Deno.UnsafePointer.value(old) === SIG_ERR) {
    throw new FfiError("Internal", "Cannot install the vCPU kick signal handler");
  }
  kickHandlerInstalled = true;
}

/** Why a vCPU thread ended on its own. */
class VcpuThreadError extends Error {
  /** A failed KVM_RUN is the VMM's own failure, whatever the errno. */
  readonly code = "Internal";
  constructor(readonly vcpu: number, readonly errno: number) {
    super(`vCPU ${vcpu}: KVM_RUN failed (errno ${errno})`);
    this.name = "VcpuThreadError";
  }
}

/** A vCPU thread: spawned early (its isolate starts while the VM is built), then started. */
export class VcpuThread {
  readonly #worker: Worker;
  readonly #control = new Int32Array(new SharedArrayBuffer(8));
  readonly #id: number;
  #run?: KvmRun;
  #onExit: () => void = () => {};
  #tid = 0;
  #started = false;
  #stopping = false;
  #exits = 0;
  #parked = false;
  #lastExitAt = 0;
  #ready: Promise<number>;
  #stopped: Promise<void>;

  private constructor(id: number) {
    this.#id = id;
    workerUrl ??= URL.createObjectURL(
      new Blob([WORKER_SOURCE], { type: "application/javascript" }),
    );
    installKickHandler();
    const worker = new Worker(workerUrl, { type: "module" });
    this.#worker = worker;
    let ready!: (tid: number) => void;
    let failed!: (e: Error) => void;
    this.#ready = new Promise<number>((res, rej) => {
      ready = res;
      failed = rej;
    });
    this.#ready.catch(() => {});
    let done!: () => void;
    let doneErr!: (e: Error) => void;
    this.#stopped = new Promise<void>((res, rej) => {
      done = res;
      doneErr = rej;
    });
    this.#stopped.catch(() => {}); // observed through wait(); avoid an unhandled rejection here
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { type: string; tid?: number; errno?: number };
      if (m.type === "ready") ready(m.tid!);
      else if (m.type === "exit") {
        this.#exits++;
        this.#parked = true;
        this.#lastExitAt = performance.now();
        this.#onExit();
      } else if (m.type === "stopped") {
        worker.terminate();
        done();
      } else if (m.type === "error") {
        worker.terminate();
        doneErr(new VcpuThreadError(id, m.errno ?? 0));
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const err = new FfiError("Internal", `vCPU ${id} thread failed: ${e.message}`);
      failed(err);
      worker.terminate();
      doneErr(err);
    };
  }

  /** Creates the thread for vCPU `id`; it waits idle until {@link start}. */
  static spawn(id: number): VcpuThread {
    return new VcpuThread(id);
  }

  /**
   * Runs vCPU `vcpuFd` on the thread. `onExit` runs on the JS thread for
   * every exit (read it from `run`) and must eventually call {@link resume}
   * or {@link stop}. Resolves once the thread is in its KVM_RUN loop.
   */
  async start(vcpuFd: number, run: KvmRun, onExit: () => void): Promise<void> {
    if (this.#started) {
      throw new FfiError("FailedPrecondition", `vCPU ${this.#id} thread is already started`);
    }
    this.#started = true;
    this.#run = run;
    this.#onExit = onExit;
    this.#worker.postMessage({ fd: vcpuFd, control: this.#control.buffer, id: this.#id });
    this.#tid = await this.#ready;
  }

  /** Lets the vCPU enter the guest again after an exit was handled. */
  resume(): void {
    this.#parked = false;
    Atomics.store(this.#control, 0, 1);
    Atomics.notify(this.#control, 0);
  }

  /**
   * Where the thread is, for reports on a stuck guest: exits handed to the JS
   * thread so far, whether it is parked waiting for {@link resume} (else it
   * is in KVM_RUN: in the guest, or blocked there, e.g. an AP before
   * INIT/SIPI), and ms since its last exit (undefined before the first).
   */
  stats(): { exits: number; parked: boolean; sinceLastExitMs?: number } {
    return {
      exits: this.#exits,
      parked: this.#parked,
      sinceLastExitMs: this.#exits ? Math.round(performance.now() - this.#lastExitAt) : undefined,
    };
  }

  /** Resolves when the thread has ended; rejects if KVM_RUN failed. */
  wait(): Promise<void> {
    return this.#stopped;
  }

  /** Stops the vCPU (kicking it out of the guest) and waits for the thread. */
  async stop(): Promise<void> {
    if (!this.#started) {
      this.#worker.terminate();
      return;
    }
    if (!this.#stopping) {
      this.#stopping = true;
      Atomics.store(this.#control, 1, 1);
      if (this.#run) this.#run.immediateExit = true;
      this.resume();
      let ended = false;
      const end = this.#stopped.finally(() => ended = true);
      end.catch(() => {});
      const pid = libc().getpid();
      while (!ended) {
        // Again each round: the thread may have parked after an exit that raced with the stop flag.
        this.resume();
        if (this.#tid) libc().tgkill(pid, this.#tid, SIGUSR2); // ESRCH once the thread is gone: fine
        await Promise.race([end, new Promise((r) => setTimeout(r, KICK_INTERVAL_MS))]).catch(
          () => {},
        );
      }
    }
    await this.#stopped.catch(() => {});
  }
}
