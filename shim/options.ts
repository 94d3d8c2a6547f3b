/**
 * The flags containerd passes to every shim invocation, and the action that
 * follows them.
 * @module
 */
import { type FlagValues, parseFlags } from "../common/flags.ts";

/** The shim's top-level flags, as the Go shim library declares them. */
export const SHIM_FLAGS = {
  namespace: { kind: "string", usage: "namespace that owns the shim" },
  address: { kind: "string", usage: "grpc address back to main containerd" },
  "publish-binary": {
    kind: "string",
    usage: "path to publish binary (used for publishing events)",
  },
  id: { kind: "string", usage: "id of the task" },
  bundle: { kind: "string", usage: "path to the bundle if not workdir" },
  socket: { kind: "string", usage: "socket path to serve" },
  "debug-socket": { kind: "string", usage: "debug socket path to serve" },
  debug: { kind: "bool", usage: "enable debug output in logs" },
  v: { kind: "bool", usage: "show the shim version and exit" },
  version: { kind: "bool", usage: "show the shim version and exit" },
  info: { kind: "bool", usage: "get the option protobuf from stdin, print the shim info and exit" },
} as const;

/** Parsed top-level flags. */
type ShimFlags = FlagValues<typeof SHIM_FLAGS>;

/** What one invocation of the binary asks for. */
export interface Invocation {
  flags: ShimFlags;
  /** First positional argument (`start`, `delete`, `env`, ...); "" = serve. */
  action: string;
  /** Positional arguments after the action. */
  args: string[];
}

/** Parses the binary's argv (without argv[0]). */
export function parseInvocation(argv: readonly string[]): Invocation {
  const { values, rest } = parseFlags(argv, SHIM_FLAGS);
  return { flags: values, action: rest[0] ?? "", args: rest.slice(1) };
}
