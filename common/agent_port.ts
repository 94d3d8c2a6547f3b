/**
 * The vsock port the Kata agent listens on inside every guest. Both the
 * hypervisor drivers (which report the agent's address) and the agent client
 * (which dials it) need it, so it lives below both.
 * @module
 */

/** Kata's agent port inside the guest (runtime-rs's `AGENT_VSOCK_PORT`). */
export const AGENT_PORT = 1024;
