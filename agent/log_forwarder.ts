/**
 * Forwards the guest agent's log lines (its log port, vsock 1025) into the
 * shim's log, as runtime-rs does: one connection, redialled while the
 * forwarder runs, each line re-logged at the level it carries.
 * @module
 */
import { getLogger } from "../common/log.ts";
import { dialSocketAddress, type SocketAddress } from "../ttrpc/transport/address.ts";

const log = getLogger("agent.guest");

/** Kata's agent log port. */
export const AGENT_LOG_PORT = 1025;

/** A running forwarder. */
export interface LogForwarder {
  /** Stops forwarding and closes the connection. */
  close(): void;
  /** Resolves once the forwarder has stopped. */
  done: Promise<void>;
}

type Level = "debug" | "info" | "warn" | "error";

/** Longest line forwarded whole (characters); longer ones are cut. */
const MAX_LINE_CHARS = 16384;

/** Control characters (but tab) become U+FFFD: guest garbage must not forge log records. */
function cleanLine(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\r$/, "").replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "\ufffd");
}

/**
 * A sink into the shim's log that tags each guest line with its sandbox id,
 * at the level the line carries.
 */
export function sandboxLogSink(sandboxId: string): (line: string, level: Level) => void {
  return (line, level) =>
    log[level]("sandbox {sandbox}: guest: {line}", { sandbox: sandboxId, line });
}

/** The level of one agent line (`level=...` logfmt or kata-agent's JSON `"level":"..."`). */
export function lineLevel(line: string): Level {
  const m = line.match(/\blevel=(\w+)/) ?? line.match(/"level"\s*:\s*"(\w+)"/);
  switch (m?.[1]) {
    case "debug":
    case "trace":
      return "debug";
    case "warning":
    case "warn":
      return "warn";
    case "error":
    case "fatal":
    case "critical":
      return "error";
    default:
      return "info";
  }
}

/**
 * Forwards log lines from the agent at `agent` (its address; the port is
 * replaced by the log port) to `sink` (the shim's log by default).
 */
export function forwardAgentLogs(
  agent: SocketAddress,
  sink: (line: string, level: Level) => void = (line, level) => log[level]("{line}", { line }),
  opts: { retryIntervalMs?: number; maxLineChars?: number } = {},
): LogForwarder {
  const max = opts.maxLineChars ?? MAX_LINE_CHARS;
  // A line longer than the limit is cut (and the rest of it dropped up to its newline),
  // so a guest that never writes a newline cannot grow the shim's memory.
  let skipping = false;
  const emit = (raw: string) => {
    const line = cleanLine(raw);
    if (line) sink(line, lineLevel(line));
  };
  const addr: SocketAddress = agent.kind === "unix" ? agent : { ...agent, port: AGENT_LOG_PORT };
  let closed = false;
  let conn: Deno.Conn | undefined;
  const dec = new TextDecoder();
  const done = (async () => {
    while (!closed) {
      try {
        conn = await dialSocketAddress(addr, { timeoutMs: 1000 });
        if (closed) break;
        let pending = "";
        const buf = new Uint8Array(16384);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) break;
          pending += dec.decode(buf.subarray(0, n), { stream: true });
          let nl;
          while ((nl = pending.indexOf("\n")) >= 0) {
            const line = pending.slice(0, nl);
            pending = pending.slice(nl + 1);
            if (skipping) skipping = false;
            else emit(line);
          }
          if (pending.length > max) {
            if (!skipping) emit(pending.slice(0, max) + " [line truncated]");
            skipping = true;
            pending = "";
          }
        }
      } catch {
        // not reachable yet, or the connection broke: redial while running
      } finally {
        try {
          conn?.close();
        } catch {
          // already closed
        }
        conn = undefined;
      }
      if (!closed) await new Promise((r) => setTimeout(r, opts.retryIntervalMs ?? 200));
    }
  })();
  return {
    close() {
      closed = true;
      try {
        conn?.close();
      } catch {
        // already closed
      }
    },
    done,
  };
}
