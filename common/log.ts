/**
 * Structured logging on top of logtape. Every component asks for a logger by
 * name; records carry `sandbox` and `component` properties.
 * @module
 */
import {
  configure,
  getLogger as logtapeLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
  type Sink,
} from "@logtape/logtape";

export type { Logger };

const ROOT = "kata";

/** Returns the logger of one component (e.g. `"service"`, `"hypervisor.qemu"`). */
export function getLogger(component: string): Logger {
  return logtapeLogger([ROOT, ...component.split(".")]);
}

/** Formats one record as a logfmt-like line, the shape containerd's log shows well. */
export function formatRecord(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  let msg = "";
  for (let i = 0; i < record.message.length; i++) {
    const part = record.message[i];
    msg += i % 2 === 0 ? String(part) : JSON.stringify(part);
  }
  const fields = [
    `time=${JSON.stringify(time)}`,
    `level=${record.level}`,
    `component=${record.category.slice(1).join(".") || "shim"}`,
    `msg=${JSON.stringify(msg)}`,
  ];
  for (const [k, v] of Object.entries(record.properties)) {
    fields.push(`${k}=${JSON.stringify(v)}`);
  }
  return fields.join(" ") + "\n";
}

/** A sink writing formatted lines synchronously to a file descriptor-like writer. */
export function writerSink(writer: { writeSync(p: Uint8Array): number }): Sink {
  const enc = new TextEncoder();
  return (record) => {
    const bytes = enc.encode(formatRecord(record));
    let off = 0;
    try {
      while (off < bytes.length) off += writer.writeSync(bytes.subarray(off));
    } catch {
      // A closed log pipe must never take the shim down.
    }
  };
}

/** Options of {@link setupLogging}. */
interface LoggingOptions {
  /** Lowest level written. */
  level: LogLevel;
  /** Where lines go; stderr when absent. */
  sink?: Sink;
  /** Properties added to every record, e.g. `{ sandbox: id }`. */
  properties?: Record<string, unknown>;
}

/** Configures the process-wide logging once; later calls replace it. */
export async function setupLogging(opts: LoggingOptions): Promise<void> {
  const props = opts.properties ?? {};
  const base = opts.sink ?? writerSink(Deno.stderr);
  const sink: Sink = (record) =>
    base({ ...record, properties: { ...props, ...record.properties } });
  await reset();
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      { category: [ROOT], lowestLevel: opts.level, sinks: ["main"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
    ],
  });
}
