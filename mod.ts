/**
 * runtime-ts as a library: the pieces other programs may reuse.
 * @module
 */
export * from "./common/errors.ts";
export { type FlagSet, type FlagSpec, parseFlags } from "./common/flags.ts";
export { type Invocation, parseInvocation } from "./shim/options.ts";
export { buildInfo, VERSION } from "./shim/version.ts";
export * as config from "./config/mod.ts";
export * as persist from "./persist/mod.ts";
export * as ttrpc from "./ttrpc/mod.ts";
export * as agent from "./agent/mod.ts";
export * as hypervisor from "./hypervisor/mod.ts";
