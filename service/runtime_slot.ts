/**
 * The one runtime handler of a shim, shared by its Task and Sandbox services:
 * built from the configuration at the first Create or CreateSandbox (the
 * runtime options' `config_path`, else the one `start` was given, else the
 * default lookup) and reused by every later call.
 * @module
 */
import { NotFoundError } from "../common/errors.ts";
import type { RuntimeHandler } from "../runtimes/handler.ts";
import type { HandlerFactory } from "../runtimes/manager.ts";

/** Holds the handler once a Create or CreateSandbox made it. */
export class RuntimeSlot {
  #handler: RuntimeHandler | undefined;
  #creating: Promise<RuntimeHandler> | undefined;

  /**
   * @param factory builds the handler.
   * @param defaultConfigPath the configuration `start` learned from containerd's runtime options.
   */
  constructor(readonly factory: HandlerFactory, readonly defaultConfigPath?: string) {}

  /** The handler, once made. */
  get handler(): RuntimeHandler | undefined {
    return this.#handler;
  }

  /** The handler; NotFound naming `what` (a container or a sandbox) before any exists. */
  need(what: string): RuntimeHandler {
    if (!this.#handler) throw new NotFoundError(`${what} does not exist`);
    return this.#handler;
  }

  /** The handler, made from `configPath` (or the default) by the first caller. */
  async obtain(configPath: string | undefined): Promise<RuntimeHandler> {
    if (this.#handler) return this.#handler;
    this.#creating ??= this.factory(configPath ?? this.defaultConfigPath);
    try {
      this.#handler = await this.#creating;
    } finally {
      this.#creating = undefined;
    }
    return this.#handler;
  }
}
