/**
 * What the shim's server needs of the service layer: the Task service, the
 * handler slot it shares with the Sandbox service (which loads on its first
 * call, service/sandbox_service.ts), the handler factory, and the ttRPC
 * names containerd 2.x calls.
 * @module
 */
export { TaskService } from "./task_service.ts";
export { RuntimeSlot } from "./runtime_slot.ts";
export { handlerFactory } from "../runtimes/manager.ts";

/** containerd 2.x's name for the Task service (shim protocol version 3). */
export const TASK_V3 = "containerd.task.v3.Task";
/** containerd 2.x's Sandbox API. */
export const SANDBOX_V1 = "containerd.runtime.sandbox.v1.Sandbox";
