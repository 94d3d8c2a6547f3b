/**
 * A client of the CRI streaming server (the URLs Exec, Attach and PortForward
 * answer with) over WebSocket, the way `kubectl` reaches a kubelet: the
 * `v4.channel.k8s.io` subprotocol of containerd's streaming server (its
 * pkg/cri/streaming, from Kubernetes' kubelet), binary frames whose first byte
 * names the channel. Exec and attach use channels 0 stdin, 1 stdout, 2 stderr,
 * 3 error (v4: a JSON metav1.Status when the process ends) and 4 resize; port
 * forwarding a data and an error channel per port (0 and 1 for one port), each
 * opened by the server with the port as two little-endian bytes.
 * @module
 */

/** The subprotocol asked for: binary frames with v4's JSON exit status. */
export const CHANNEL_PROTOCOL = "v4.channel.k8s.io";

/** Exec and attach channels. */
export const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;

/** How the connection ended. */
export interface StreamEnd {
  code: number;
  reason: string;
}

/** One streaming connection: what each channel received, as text, and a way to send. */
export class ChannelStream {
  readonly #ws: WebSocket;
  readonly #received = new Map<number, Uint8Array>();
  readonly #waiters = new Set<() => void>();
  /** Resolves when the server closes the connection (or it fails). */
  readonly closed: Promise<StreamEnd>;
  #ended: StreamEnd | undefined;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onmessage = (e) => {
      if (!(e.data instanceof ArrayBuffer) || e.data.byteLength === 0) return;
      const frame = new Uint8Array(e.data);
      const before = this.bytes(frame[0]);
      const after = new Uint8Array(before.length + frame.length - 1);
      after.set(before);
      after.set(frame.subarray(1), before.length);
      this.#received.set(frame[0], after);
      this.#wake();
    };
    this.closed = new Promise((resolve) => {
      ws.onclose = (e) => {
        this.#ended = { code: e.code, reason: e.reason };
        this.#wake();
        resolve(this.#ended);
      };
    });
  }

  /**
   * Opens `url` (the `http://` URL from Exec, Attach or PortForward).
   * @throws {Error} naming the URL when the upgrade is refused
   */
  static async open(url: string, seconds = 30): Promise<ChannelStream> {
    const ws = new WebSocket(url.replace(/^http/, "ws"), [CHANNEL_PROTOCOL]);
    const s = new ChannelStream(ws);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`The streaming server at ${url} did not answer in ${seconds} s`));
      }, seconds * 1000);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.onerror = (e) => {
        clearTimeout(timer);
        reject(new Error(`Cannot open ${url}: ${(e as ErrorEvent).message ?? e.type}`));
      };
    });
    if (ws.protocol !== CHANNEL_PROTOCOL) {
      ws.close();
      throw new Error(`The streaming server at ${url} chose protocol "${ws.protocol}"`);
    }
    return s;
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Everything channel `ch` received so far, as bytes. */
  bytes(ch: number): Uint8Array {
    return this.#received.get(ch) ?? new Uint8Array();
  }

  /** Everything channel `ch` received so far, as text. */
  text(ch: number): string {
    return new TextDecoder().decode(this.bytes(ch));
  }

  /** Sends `data` on channel `ch`. */
  send(ch: number, data: string | Uint8Array): void {
    const body = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const frame = new Uint8Array(body.length + 1);
    frame[0] = ch;
    frame.set(body, 1);
    this.#ws.send(frame);
  }

  /**
   * Waits until channel `ch`'s text satisfies `done` (or the connection
   * ends), for at most `seconds`.
   * @throws {Error} with what the channels held when time ran out or the connection ended first
   */
  async waitFor(ch: number, done: (text: string) => boolean, what: string, seconds = 30) {
    const end = Date.now() + seconds * 1000;
    while (!done(this.text(ch))) {
      if (this.#ended || Date.now() >= end) {
        const why = this.#ended ? `the connection closed (${this.#ended.code})` : `${seconds} s`;
        throw new Error(`Waiting for ${what}: ${why}; ${this.describe()}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(0, end - Date.now()));
        this.#waiters.add(wake);
      });
    }
    return this.text(ch);
  }

  /** What each channel holds, for failure messages. */
  describe(): string {
    return [...this.#received.keys()].sort().map((ch) =>
      `channel ${ch}: ${JSON.stringify(this.text(ch))}`
    )
      .join("; ") || "nothing received";
  }

  /** Waits for the server to close, at most `seconds`; then closes from this side. */
  async end(seconds = 30): Promise<StreamEnd | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      this.closed,
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), seconds * 1000)
      ),
    ]);
    clearTimeout(timer);
    if (!r) this.close();
    return r;
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#ws.readyState < WebSocket.CLOSING) this.#ws.close();
  }
}

/**
 * The exit of an exec as v4's error channel states it (a metav1.Status):
 * 0 on `Success`, the `ExitCode` cause of a `NonZeroExitCode` failure, or
 * undefined with the message of any other failure.
 */
export function execExit(status: string): { exitCode?: number; message?: string } {
  if (status.trim() === "") return { message: "no status" };
  // deno-lint-ignore no-explicit-any
  const s: any = JSON.parse(status);
  if (s.status === "Success") return { exitCode: 0 };
  // deno-lint-ignore no-explicit-any
  const cause = s.details?.causes?.find((c: any) => c.reason === "ExitCode");
  return cause ? { exitCode: Number(cause.message) } : { message: String(s.message ?? status) };
}
