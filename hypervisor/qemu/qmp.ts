/**
 * QMP client: QEMU's JSON monitor over a Unix socket. Reads the greeting,
 * negotiates `qmp_capabilities`, then sends id-tagged commands and routes
 * replies by id; asynchronous events go to subscribers (`device_del` waits
 * for its `DEVICE_DELETED`).
 * @module
 */
import { DeadlineExceededError, RuntimeError, UnavailableError } from "../../common/errors.ts";
import { within } from "../../common/time.ts";
import { getLogger } from "../../common/log.ts";
import { writeAll } from "../../common/io.ts";

const log = getLogger("hypervisor.qemu.qmp");

/** QEMU answered a command with an error. */
export class QmpError extends RuntimeError {
  override readonly code = "Internal";
  constructor(readonly command: string, readonly errorClass: string, readonly desc: string) {
    super(`QMP command ${command} failed: ${errorClass}: ${desc}`);
  }
}

/** One asynchronous QMP event. */
interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** The server's greeting. */
interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package?: string };
  capabilities: string[];
}

/** `query-status` result. */
interface QmpStatus {
  status: string;
  running: boolean;
  singlestep?: boolean;
}

/** Options of {@link QmpClient.connect}. */
interface QmpConnectOptions {
  /** Total time to wait for the socket and greeting (default 10 s). */
  timeoutMs?: number;
  /** Resolves (or rejects) when waiting is pointless, e.g. the VMM exited. */
  abandon?: Promise<unknown>;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One QMP session. */
export class QmpClient {
  readonly greeting: QmpGreeting;
  readonly #conn: Deno.UnixConn;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(e: QmpEvent) => void>();
  #nextId = 1;
  #closedError: Error | null = null;
  /** Resolves when the connection ends (QEMU quit or died). */
  readonly closed: Promise<void>;
  #lines: AsyncGenerator<string>;

  private constructor(conn: Deno.UnixConn, greeting: QmpGreeting, lines: AsyncGenerator<string>) {
    this.#conn = conn;
    this.greeting = greeting;
    this.#lines = lines;
    this.closed = this.#readLoop();
  }

  /**
   * Connects to `path` (retrying while the socket is not there yet), reads the
   * greeting and enters command mode.
   */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let abandoned: unknown = null;
    opts.abandon?.then((v) => abandoned = v ?? true, (e) => abandoned = e);
    let conn: Deno.UnixConn | null = null;
    let lastError: unknown;
    while (!conn) {
      try {
        conn = await Deno.connect({ transport: "unix", path });
      } catch (e) {
        lastError = e;
        if (abandoned) {
          throw abandoned instanceof Error ? abandoned : new UnavailableError(
            `Cannot connect to QMP socket ${path}: QEMU is gone`,
          );
        }
        if (Date.now() > deadline) {
          throw new DeadlineExceededError(
            `Cannot connect to QMP socket ${path}: ${(lastError as Error).message}`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const lines = readLines(conn);
    try {
      const first = await withTimeout(lines.next(), deadline - Date.now(), "QMP greeting");
      if (first.done) throw new UnavailableError(`QMP socket ${path} closed before the greeting`);
      const msg = JSON.parse(first.value);
      if (!msg.QMP) {
        throw new UnavailableError(`QMP socket ${path} sent no greeting: ${first.value}`);
      }
      const client = new QmpClient(conn, msg.QMP as QmpGreeting, lines);
      await client.execute("qmp_capabilities");
      return client;
    } catch (e) {
      try {
        conn.close();
      } catch { /* closed */ }
      throw e;
    }
  }

  /** Sends one command and resolves with its `return` value. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ): Promise<T> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    const msg = JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id });
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new DeadlineExceededError(`QMP command ${command} got no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      log.debug("-> {msg}", { msg });
      writeAll(this.#conn, new TextEncoder().encode(msg + "\n")).catch((e) => {
        this.#settle(id, undefined, new UnavailableError(`QMP write failed: ${e.message}`));
      });
    });
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(fn: (e: QmpEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Waits for the first event named `name` that matches `pred`. Subscribe before acting. */
  waitEvent(name: string, pred: (e: QmpEvent) => boolean, timeoutMs: number): {
    event: Promise<QmpEvent>;
    cancel: () => void;
  } {
    let off = () => {};
    let timer: ReturnType<typeof setTimeout> | undefined;
    const event = new Promise<QmpEvent>((resolve, reject) => {
      off = this.onEvent((e) => {
        if (e.event === name && pred(e)) {
          off();
          clearTimeout(timer);
          resolve(e);
        }
      });
      timer = setTimeout(() => {
        off();
        reject(new DeadlineExceededError(`QMP event ${name} did not arrive in ${timeoutMs} ms`));
      }, timeoutMs);
    });
    return {
      event,
      cancel: () => {
        off();
        clearTimeout(timer);
        event.catch(() => {});
      },
    };
  }

  /** `query-status`. */
  queryStatus(): Promise<QmpStatus> {
    return this.execute<QmpStatus>("query-status");
  }

  /** Asks QEMU to exit (`quit`); resolves once the reply (or the close) arrives. */
  async quit(): Promise<void> {
    try {
      await this.execute("quit");
    } catch (e) {
      // QEMU may close the socket before its reply gets through.
      if (!(e instanceof UnavailableError)) throw e;
    }
  }

  /** `device_add` with the driver and properties given. */
  async deviceAdd(props: { driver: string; id: string } & Record<string, unknown>): Promise<void> {
    await this.execute("device_add", props);
  }

  /** `device_del`, then waits for the guest to release it (`DEVICE_DELETED`). */
  async deviceDel(id: string, timeoutMs = 10_000): Promise<void> {
    const w = this.waitEvent("DEVICE_DELETED", (e) => e.data?.device === id, timeoutMs);
    try {
      await this.execute("device_del", { id });
    } catch (e) {
      w.cancel();
      throw e;
    }
    await w.event;
  }

  /** `netdev_add` of a tap opened by name. */
  async netdevAddTap(
    n: { id: string; ifname: string; vhost: boolean; queues?: number },
  ): Promise<void> {
    await this.execute("netdev_add", {
      type: "tap",
      id: n.id,
      ifname: n.ifname,
      script: "no",
      downscript: "no",
      vhost: n.vhost,
      ...(n.queues && n.queues > 1 ? { queues: n.queues } : {}),
    });
  }

  /** `netdev_del`. */
  async netdevDel(id: string): Promise<void> {
    await this.execute("netdev_del", { id });
  }

  /**
   * `blockdev-add` of a raw file, or of a host block device (`hostDevice`:
   * QEMU's `file` driver refuses anything but a regular file, its
   * `host_device` driver takes a block device such as a devmapper snapshot),
   * with the host I/O engine and cache mode given.
   */
  async blockdevAddFile(b: {
    nodeName: string;
    filename: string;
    readOnly: boolean;
    hostDevice?: boolean;
    aio?: "threads" | "native" | "io_uring";
    cache?: { direct: boolean; noFlush: boolean };
  }): Promise<void> {
    const cache = b.cache ? { cache: { direct: b.cache.direct, "no-flush": b.cache.noFlush } } : {};
    await this.execute("blockdev-add", {
      driver: "raw",
      "node-name": b.nodeName,
      "read-only": b.readOnly,
      ...cache,
      file: {
        driver: b.hostDevice ? "host_device" : "file",
        filename: b.filename,
        "read-only": b.readOnly,
        ...(b.aio ? { aio: b.aio } : {}),
        ...cache,
      },
    });
  }

  /** `blockdev-del`. */
  async blockdevDel(nodeName: string): Promise<void> {
    await this.execute("blockdev-del", { "node-name": nodeName });
  }

  /** Closes the session (QEMU keeps running). */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }

  #settle(id: number, value: unknown, error?: Error): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(value);
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const line of this.#lines) {
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          log.warn("unparsable QMP line {line}", { line });
          continue;
        }
        log.debug("<- {line}", { line });
        if (typeof msg.event === "string") {
          for (const fn of [...this.#listeners]) fn(msg as QmpEvent);
          continue;
        }
        if (typeof msg.id !== "number") {
          log.warn("QMP reply without our id: {line}", { line });
          continue;
        }
        const cmd = this.#pending.get(msg.id)?.command ?? "?";
        if (msg.error) {
          this.#settle(msg.id, undefined, new QmpError(cmd, msg.error.class, msg.error.desc));
        } else {
          this.#settle(msg.id, msg.return);
        }
      }
    } catch (e) {
      log.debug("QMP read ended: {err}", { err: (e as Error).message });
    }
    this.#closedError = new UnavailableError("QMP connection closed");
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined, this.#closedError);
    this.close();
  }
}

async function* readLines(conn: Deno.Conn): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let rest = "";
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    const parts = (rest + dec.decode(buf.subarray(0, n), { stream: true })).split("\n");
    rest = parts.pop()!;
    for (const p of parts) if (p.trim()) yield p.trim();
  }
  if (rest.trim()) yield rest.trim();
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const got = await within(p, Math.max(0, ms));
  if (!got) throw new DeadlineExceededError(`${what} did not arrive in time`);
  return got.value;
}
