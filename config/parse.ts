/**
 * Turns a merged TOML tree into a typed {@link KataConfig}. Every problem
 * (unknown key, wrong type, unknown hypervisor table) becomes a
 * {@link ConfigError} whose message names the key, its section and the file
 * (or drop-in) that set it.
 * @module
 */
import type * as z from "../common/zod.ts";
import { ConfigError } from "../common/errors.ts";
import {
  AGENT_NAMES,
  type AgentConfig,
  agentSchema,
  HYPERVISOR_NAMES,
  type HypervisorConfig,
  hypervisorSchema,
  type KataConfig,
  linuxContainerSchema,
  runtimeSchema,
  TOP_LEVEL_TABLES,
} from "./schema.ts";
import { isTable, type Sources, type Table } from "./sources.ts";

type Path = (string | number)[];

/** Renders a table path as it appears in a TOML header, e.g. `hypervisor.qemu`. */
export function sectionName(path: readonly (string | number)[]): string {
  return path.length === 0 ? "top level" : `[${path.join(".")}]`;
}

/** Splits a full key path into the enclosing table path and the key (dotted, with indices). */
function splitKey(tree: Table, path: Path): { section: Path; key: string } {
  const section: Path = [];
  let node: unknown = tree;
  let i = 0;
  for (; i < path.length - 1; i++) {
    const part = path[i];
    if (typeof part !== "string" || !isTable(node)) break;
    const next = (node as Table)[part];
    if (!isTable(next)) break;
    section.push(part);
    node = next;
  }
  let key = "";
  for (const part of path.slice(i)) {
    key += typeof part === "number" ? `[${part}]` : key === "" ? part : `.${part}`;
  }
  return { section, key };
}

function lower(msg: string): string {
  const m = msg.replace(/^Invalid input: /, "");
  return m.charAt(0).toLowerCase() + m.slice(1);
}

/** Formats one zod issue found while parsing the table at `base`. */
function describeIssue(
  tree: Table,
  base: Path,
  issue: z.$ZodIssue,
  sources: Sources,
): string[] {
  const path: Path = [...base, ...(issue.path as Path)];
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => {
      const { section, key } = splitKey(tree, [...path, k]);
      return `unknown key "${key}" in section ${sectionName(section)} of ${
        sources.of([...path, k])
      }`;
    });
  }
  const { section, key } = splitKey(tree, path);
  return [
    `invalid value for key "${key}" in section ${sectionName(section)} of ${sources.of(path)}: ${
      lower(issue.message)
    }`,
  ];
}

function parseSection<S extends z.ZodMiniType>(
  schema: S,
  tree: Table,
  path: Path,
  value: unknown,
  sources: Sources,
  problems: string[],
): z.infer<S> | undefined {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  for (const issue of r.error.issues) problems.push(...describeIssue(tree, path, issue, sources));
  return undefined;
}

function namedTables(
  tree: Table,
  top: "hypervisor" | "agent",
  known: readonly string[],
  sources: Sources,
  problems: string[],
): [string, Table][] {
  const value = tree[top];
  if (value === undefined) return [];
  if (!isTable(value)) {
    problems.push(`key "${top}" at top level of ${sources.of([top])} must be a table`);
    return [];
  }
  const out: [string, Table][] = [];
  for (const [name, t] of Object.entries(value)) {
    if (!known.includes(name)) {
      problems.push(
        `unknown ${top} "${name}": section [${top}.${name}] of ${
          sources.of([top, name])
        } names none of ${known.join(", ")}`,
      );
    } else if (!isTable(t)) {
      problems.push(
        `key "${name}" in section [${top}] of ${sources.of([top, name])} must be a table`,
      );
    } else {
      out.push([name, t]);
    }
  }
  return out;
}

/**
 * Parses the merged tree. Throws {@link ConfigError} listing every problem.
 * @param tree the merged TOML tree of the main file and its drop-ins
 * @param sources origins of the tree's keys, for messages
 */
export function parseConfigTree(tree: Table, sources: Sources): KataConfig {
  const problems: string[] = [];
  for (const k of Object.keys(tree)) {
    if (!(TOP_LEVEL_TABLES as readonly string[]).includes(k)) {
      problems.push(`unknown key "${k}" at top level of ${sources.of([k])}`);
    }
  }
  const hypervisor: Record<string, HypervisorConfig> = {};
  for (const [name, t] of namedTables(tree, "hypervisor", HYPERVISOR_NAMES, sources, problems)) {
    const hv = parseSection(hypervisorSchema, tree, ["hypervisor", name], t, sources, problems);
    if (hv) hypervisor[name] = hv;
  }
  const agent: Record<string, AgentConfig> = {};
  for (const [name, t] of namedTables(tree, "agent", AGENT_NAMES, sources, problems)) {
    const a = parseSection(agentSchema, tree, ["agent", name], t, sources, problems);
    if (a) agent[name] = a;
  }
  const runtime = parseSection(runtimeSchema, tree, ["runtime"], tree.runtime, sources, problems);
  const linuxContainer = parseSection(
    linuxContainerSchema,
    tree,
    ["linux_container"],
    tree.linux_container,
    sources,
    problems,
  );
  if (problems.length > 0 || !runtime || !linuxContainer) {
    throw new ConfigError(problems.join("; "));
  }
  return { hypervisor, agent, runtime, linux_container: linuxContainer };
}
