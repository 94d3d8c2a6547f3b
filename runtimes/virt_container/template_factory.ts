/**
 * The VM factory of `shim-ctl factory init|status|destroy` (what `kata-ctl
 * factory` does for the Go runtime), for the built-in VMM: `init` boots a VM
 * with the configured kernel, image or initrd, vCPUs and memory, waits for
 * its agent to answer, and saves it, paused, as the template at
 * `template_path`; it holds no sandbox state (no container, no mounted
 * share, no NIC configured). `status` describes the template; `destroy`
 * removes its files. Clones already running keep their memory: their
 * mapping holds the removed file's pages, and a new template is a new file.
 * @module
 */
import type { LoadedConfig } from "../../config/load.ts";
import type { HypervisorConfig } from "../../config/schema.ts";
import { FailedPreconditionError, NotFoundError, UnavailableError } from "../../common/errors.ts";
import { getLogger } from "../../common/log.ts";
import {
  DEFAULT_TEMPLATE_PATH,
  Dragonball,
  dragonballOptionsFromConfig,
} from "../../hypervisor/dragonball/driver.ts";
import { readSnapshot, STATE_FILE } from "../../hypervisor/dragonball/snapshot/saved_form.ts";
import { templateFiles } from "../../hypervisor/dragonball/template.ts";
import { removeTree } from "../../persist/remove_tree.ts";
import type { AgentDialer } from "./agent_api.ts";

const log = getLogger("runtimes.virt_container.factory");
/** The id of the VM being built (its run directory under the template's). */
const BUILD_ID = "template-build";

/** The template directory of a configuration whose templating is on. */
export function templateDir(loaded: LoadedConfig): string {
  const hv = loaded.hypervisor as HypervisorConfig | undefined;
  if (loaded.hypervisorName !== "dragonball" || !hv) {
    throw new FailedPreconditionError(
      `VM templates need the built-in VMM: ${loaded.file} selects hypervisor ` +
        `"${loaded.hypervisorName ?? ""}" (set [runtime] hypervisor_name = "dragonball")`,
    );
  }
  if (!hv.factory.enable_template) {
    throw new FailedPreconditionError(
      `[hypervisor.dragonball.factory] enable_template is off in ${loaded.file}`,
    );
  }
  return hv.factory.template_path || DEFAULT_TEMPLATE_PATH;
}

/**
 * Builds the template: boots, waits for the agent within `readyTimeoutMs`,
 * saves. A failure leaves no VM running and no partial template (a template
 * there before stays as it was).
 */
export async function factoryInit(
  loaded: LoadedConfig,
  dial: AgentDialer,
  readyTimeoutMs = Math.max(60_000, loaded.agent?.reconnect_timeout_ms ?? 0),
): Promise<string> {
  const dir = templateDir(loaded);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const buildRoot = `${dir}/build`;
  const opts = dragonballOptionsFromConfig(
    loaded.hypervisor as HypervisorConfig,
    buildRoot,
  );
  const hv = new Dragonball({ ...opts, templatePath: dir }, true);
  const started = performance.now();
  try {
    await hv.prepareVm({ id: BUILD_ID });
    await hv.startVm(readyTimeoutMs);
    // The configuration's dial timeout: under nested emulation one handshake takes more than 10 ms.
    const agent = await dial(hv.agentSocket(), {
      dialTimeoutMs: loaded.agent?.dial_timeout_ms || 10,
      reconnectTimeoutMs: readyTimeoutMs,
    });
    try {
      await agent.check({}, { timeoutMs: readyTimeoutMs });
    } catch (e) {
      throw new UnavailableError(
        `The template VM's agent did not answer: ${(e as Error).message}; ` +
          `guest console (tail): ${hv.consoleTail().slice(-2000) || "(empty)"}`,
        { cause: e },
      );
    } finally {
      agent.close();
    }
    await hv.saveTemplate();
  } finally {
    await hv.cleanup();
    await Deno.remove(templateFiles(dir).building).catch(() => {/* saved, or never made */});
    await removeTree(buildRoot);
  }
  const s = readSnapshot(dir);
  log.info("template saved at {dir} in {ms} ms", {
    dir,
    ms: Math.round(performance.now() - started),
  });
  return `Template saved at ${dir}: ${describe(s)}`;
}

function describe(s: ReturnType<typeof readSnapshot>): string {
  const f = s.fingerprint;
  return `kernel ${f.kernel.path}, ${
    f.image ? `image ${f.image.path}` : `initrd ${f.initrd?.path}`
  }, ` +
    `${f.vcpus} vCPUs, ${f.memoryMib} MiB, devices ${f.devices}, memory file ${s.memoryPath}, ` +
    `saved ${s.savedAt}`;
}

/** One line on the template: where, built from what, when; or why there is none. */
export function factoryStatus(loaded: LoadedConfig): string {
  const dir = templateDir(loaded);
  return `Template at ${dir}: ${describe(readSnapshot(dir))}`;
}

/**
 * Removes the template's files (state first, so no new sandbox picks a
 * half-removed template). Only the files a template has are removed; the
 * directory itself only when that leaves it empty.
 */
export async function factoryDestroy(loaded: LoadedConfig): Promise<string> {
  const dir = templateDir(loaded);
  let entries: string[];
  try {
    entries = [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new NotFoundError(`No template at ${dir}`);
    throw e;
  }
  await Deno.remove(`${dir}/${STATE_FILE}`).catch(() => {/* absent */});
  for (const name of entries) {
    if (/^memory-[0-9a-z-]+$|^memory\.building$|^state\.json\.tmp$/.test(name)) {
      await Deno.remove(`${dir}/${name}`);
    }
  }
  // The share and the build directory may be mount points in principle: the mount-aware removal.
  await removeTree(templateFiles(dir).share);
  await removeTree(`${dir}/build`);
  await Deno.remove(dir).catch(() => {/* holds files that are not the template's */});
  return `Template at ${dir} removed`;
}
