// The subset of `node:net` that inherited.ts uses. Deno provides the module itself; these
// declarations stand in for @types/node, which is not a dependency of this project.
// deno-lint-ignore-file no-explicit-any

/** A connected socket. */
export interface Socket {
  on(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
  write(data: Uint8Array): boolean;
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  destroy(): void;
}

/** A listening server. */
export interface Server {
  on(event: string, listener: (...args: any[]) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  off(event: string, listener: (...args: any[]) => void): this;
  listen(options: { fd: number }, callback: () => void): this;
  close(): this;
}

/** Creates a server; connections arrive as "connection" events. */
export function createServer(options?: { allowHalfOpen?: boolean }): Server;
