/**
 * The Kata agent protocol from the shim's side: the typed client and the
 * agent log forwarder. The in-guest agent lives in `guest/` (bundled into the
 * guest image by scripts/build-guest).
 * @module
 */
export { AGENT_PORT, type KataAgent, kataAgent, type KataAgentOptions } from "./kata_agent.ts";
export { AGENT_LOG_PORT, forwardAgentLogs, type LogForwarder } from "./log_forwarder.ts";
