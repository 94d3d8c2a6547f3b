/**
 * The external virtio-fs daemon (`virtio_fs_daemon`): which of the two
 * virtiofsd programs it is, the arguments that one understands, and its
 * process from start to stop.
 *
 * Upstream Kata configures the Rust virtiofsd (`--socket-path`,
 * `--shared-dir`, `--cache`, `--sandbox`); Debian 12 ships QEMU's C daemon at
 * /usr/lib/qemu/virtiofsd, which refuses those and takes `-o source=`,
 * `-o cache=` instead. The kind is read from the program's `--help` (cached
 * per file identity), so the same configuration works with either.
 * @module
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import { identify } from "../../persist/process_identity.ts";

const log = getLogger("resource.share_fs.virtiofsd");

/** Which virtiofsd program a file is. */
type VirtiofsdKind = "rust" | "c";

const kinds = new Map<string, VirtiofsdKind>();

/** Classifies a virtiofsd from its `--help` text; null when it is neither known daemon. */
export function kindFromHelp(help: string): VirtiofsdKind | null {
  if (help.includes("--shared-dir")) return "rust";
  if (help.includes("-o source=")) return "c";
  return null;
}

/**
 * Which virtiofsd `bin` is, from its `--help` (cached by path, inode, size
 * and mtime, so a replaced binary is looked at again). A missing or
 * unrecognised program is an error naming it.
 */
export async function detectVirtiofsd(bin: string): Promise<VirtiofsdKind> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(bin);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Virtio-fs daemon ${bin} (virtio_fs_daemon) does not exist`);
    }
    throw new FailedPreconditionError(`Cannot use virtio-fs daemon ${bin}: ${e}`);
  }
  if (!st.isFile || ((st.mode ?? 0) & 0o111) === 0) {
    throw new FailedPreconditionError(`Virtio-fs daemon ${bin} is not an executable file`);
  }
  const key = `${bin}\0${st.ino}\0${st.size}\0${st.mtime?.getTime()}`;
  const cached = kinds.get(key);
  if (cached) return cached;
  let text: string;
  try {
    const out = await new Deno.Command(bin, {
      args: ["--help"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    const dec = new TextDecoder();
    text = dec.decode(out.stdout) + dec.decode(out.stderr);
  } catch (e) {
    throw new FailedPreconditionError(`Cannot run virtio-fs daemon ${bin} --help: ${e}`);
  }
  const kind = kindFromHelp(text);
  if (!kind) {
    throw new FailedPreconditionError(
      `Virtio-fs daemon ${bin} is not a known virtiofsd: its --help names neither --shared-dir nor -o source=`,
    );
  }
  kinds.set(key, kind);
  return kind;
}

/**
 * `virtio_fs_cache` in the daemon's words. The config says never, auto or
 * always (upstream; "none" and "" are normalised to never when loaded); the
 * C daemon calls never "none".
 */
export function cacheArg(kind: VirtiofsdKind, cache: string): string {
  const c = cache === "" || cache === "none" ? "never" : cache;
  if (!["never", "auto", "always", ...(kind === "rust" ? ["metadata"] : [])].includes(c)) {
    throw new InvalidArgumentError(`Unknown virtio_fs_cache "${cache}" for the ${kind} virtiofsd`);
  }
  return kind === "c" && c === "never" ? "none" : c;
}

/** What the daemon serves. */
interface VirtiofsdArgs {
  socketPath: string;
  sharedDir: string;
  /** `virtio_fs_cache`. */
  cache: string;
  /** `virtio_fs_extra_args`, passed through as upstream does. */
  extraArgs: string[];
}

/**
 * The daemon's command line. Rust: upstream runtime-rs's own arguments
 * (`--sandbox none`: the shim already runs it in the sandbox's context).
 * C: the same meaning in its option syntax; its sandbox is chroot, the
 * nearest to none that still confines it to the shared directory and needs
 * no pivot_root (which fails where the host itself runs chrooted).
 */
export function virtiofsdArgs(kind: VirtiofsdKind, a: VirtiofsdArgs): string[] {
  const cache = cacheArg(kind, a.cache);
  const base = kind === "rust"
    ? [
      `--socket-path=${a.socketPath}`,
      `--shared-dir=${a.sharedDir}`,
      `--cache=${cache}`,
      "--sandbox=none",
    ]
    : [
      `--socket-path=${a.socketPath}`,
      "-o",
      `source=${a.sharedDir}`,
      "-o",
      `cache=${cache}`,
      "-o",
      "sandbox=chroot",
    ];
  return [...base, ...a.extraArgs];
}

/**
 * Who a running daemon is (pid, start time, executable: persist/process_identity.ts),
 * in the shape the sandbox's state record takes (cleanup.ts shareFsRecord).
 */
export interface DaemonIdentity {
  pid: number;
  startTime: string;
  exe: string;
}

/** A started virtiofsd. */
export class Virtiofsd {
  readonly #child: Deno.ChildProcess;
  readonly #tail: string[] = [];
  readonly #drained: Promise<void>;
  #exited = false;
  /** Pid, start time and executable, recorded once its socket is up. */
  identity: DaemonIdentity | null = null;

  private constructor(readonly bin: string, readonly socketPath: string, child: Deno.ChildProcess) {
    this.#child = child;
    this.#drained = this.#pump(child.stderr);
    child.status.then(() => (this.#exited = true));
  }

  /** The daemon's pid. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Whether it has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /**
   * Detects the daemon's kind, starts it and waits until its socket exists.
   * A missing program, one that exits, or one whose socket does not appear
   * within `timeoutMs` is an error naming the program (the process is
   * stopped first).
   */
  static async start(bin: string, a: VirtiofsdArgs, timeoutMs = 10_000): Promise<Virtiofsd> {
    const kind = await detectVirtiofsd(bin);
    const args = virtiofsdArgs(kind, a);
    await Deno.remove(a.socketPath).catch(() => {});
    log.debug("starting {kind} virtiofsd {bin} {args}", { kind, bin, args: args.join(" ") });
    const child = new Deno.Command(bin, { args, stdin: "null", stdout: "null", stderr: "piped" })
      .spawn();
    const d = new Virtiofsd(bin, a.socketPath, child);
    const deadline = Date.now() + timeoutMs;
    while (!d.#exited && Date.now() < deadline) {
      if (await Deno.stat(a.socketPath).then((s) => s.isSocket, () => false)) {
        const id = identify(child.pid);
        if (id) {
          d.identity = { pid: id.pid, startTime: id.start_time, exe: id.exe };
          log.info("virtiofsd {bin} pid {pid} serves {dir}", {
            bin,
            pid: child.pid,
            dir: a.sharedDir,
          });
          return d;
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const status = d.#exited ? await child.status : null;
    await d.stop();
    throw new UnavailableError(
      status
        ? `Virtio-fs daemon ${bin} exited (code ${status.code}) before its socket ${a.socketPath} appeared: ${d.tail()}`
        : `Virtio-fs daemon ${bin} did not create its socket ${a.socketPath} within ${timeoutMs} ms`,
    );
  }

  /** Its last stderr lines, for error messages. */
  tail(): string {
    return this.#tail.join("; ") || "(no output)";
  }

  /** Kills it (our own child, so the pid cannot have been reused), waits, removes the socket. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    await this.#child.status;
    await this.#drained;
    await Deno.remove(this.socketPath).catch(() => {});
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let rest = "";
    const emit = (l: string) => {
      if (!l) return;
      log.debug("virtiofsd: {line}", { line: l });
      this.#tail.push(l);
      if (this.#tail.length > 10) this.#tail.shift();
    };
    try {
      for await (const chunk of stream) {
        const lines = (rest + dec.decode(chunk, { stream: true })).split("\n");
        rest = lines.pop()!;
        lines.forEach(emit);
      }
    } catch { /* the pipe broke with the process */ }
    emit(rest);
  }
}
