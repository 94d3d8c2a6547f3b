/**
 * A small writer for Prometheus' text exposition format (version 0.0.4):
 * one `# HELP` / `# TYPE` pair per family, samples after it, label values
 * escaped. Also checks text from elsewhere (the guest agent's GetMetrics)
 * before it is passed on, so that one malformed guest line cannot make the
 * whole scrape unreadable.
 * @module
 */
import { InvalidArgumentError } from "../../common/errors.ts";

/** Prometheus metric types used here. */
type MetricType = "gauge" | "counter" | "untyped";

/** One sample: labels and a value. */
interface Sample {
  labels?: Record<string, string>;
  value: number;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Escapes a label value (backslash, double quote, newline). */
function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Collects metric families and renders them in the text format. */
export class MetricsWriter {
  #families = new Map<string, { help: string; type: MetricType; samples: string[] }>();
  #raw: string[] = [];

  /**
   * Adds samples to the family `name` (created on first use).
   * @throws {Error} naming the metric or label when it is not a valid Prometheus name
   */
  add(name: string, help: string, type: MetricType, samples: Sample[]): void {
    if (!NAME_RE.test(name)) {
      throw new InvalidArgumentError(`Invalid metric name ${JSON.stringify(name)}`);
    }
    let f = this.#families.get(name);
    if (!f) {
      f = { help, type, samples: [] };
      this.#families.set(name, f);
    }
    for (const s of samples) {
      const labels = Object.entries(s.labels ?? {});
      for (const [k] of labels) {
        if (!LABEL_RE.test(k)) {
          throw new InvalidArgumentError(`Invalid label name ${JSON.stringify(k)} on ${name}`);
        }
      }
      const l = labels.length === 0
        ? ""
        : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
      f.samples.push(`${name}${l} ${formatValue(s.value)}`);
    }
  }

  /** Adds one unlabelled gauge. */
  gauge(name: string, help: string, value: number): void {
    this.add(name, help, "gauge", [{ value }]);
  }

  /** Appends already rendered exposition text (see {@link sanitizeExposition}). */
  addText(text: string): void {
    if (text) this.#raw.push(text.endsWith("\n") ? text : text + "\n");
  }

  /** Names of the families added with {@link add}. */
  names(): Set<string> {
    return new Set(this.#families.keys());
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    for (const [name, f] of this.#families) {
      out.push(`# HELP ${name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${name} ${f.type}`);
      out.push(...f.samples);
    }
    return out.join("\n") + (out.length ? "\n" : "") + this.#raw.join("");
  }
}

const SAMPLE_RE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})?\s+(-?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|NaN|[+-]Inf)(\s+-?\d+)?$/;

/**
 * Keeps the well-formed part of exposition text from elsewhere: sample lines
 * must parse, families must be contiguous and named with `prefix` (the guest
 * may only speak for `kata_guest_` / `kata_agent_`), and a family already in
 * `taken` is dropped. Returns the kept text and how many lines were dropped.
 */
export function sanitizeExposition(
  text: string,
  prefixes: readonly string[],
  taken: Set<string> = new Set(),
): { text: string; dropped: number } {
  const out: string[] = [];
  let dropped = 0;
  const seen = new Set<string>(taken);
  const closed = new Set<string>();
  let current = "";
  const familyOf = (name: string) => name.replace(/_(bucket|sum|count|total)$/, "");
  const open = (family: string): boolean => {
    if (family === current) return true;
    if (closed.has(family) || taken.has(family)) return false;
    if (current) closed.add(current);
    current = family;
    seen.add(family);
    return true;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: (.*))?$/.exec(line);
      const okPrefix = m && prefixes.some((p) => m[2].startsWith(p));
      if (
        !m || !okPrefix ||
        (m[1] === "TYPE" && !/^(counter|gauge|histogram|summary|untyped)$/.test(m[3] ?? ""))
      ) {
        if (!line.startsWith("# HELP") && !line.startsWith("# TYPE")) continue; // plain comment
        dropped++;
        continue;
      }
      if (!open(m[2])) {
        dropped++;
        continue;
      }
      out.push(line);
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    if (!m || !prefixes.some((p) => m[1].startsWith(p))) {
      dropped++;
      continue;
    }
    const fam = current && familyOf(m[1]) === familyOf(current) ? current : m[1];
    if (!open(fam)) {
      dropped++;
      continue;
    }
    out.push(line);
  }
  return { text: out.length ? out.join("\n") + "\n" : "", dropped };
}
