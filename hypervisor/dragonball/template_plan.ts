/**
 * How one built-in VM uses the template at `template_path`: boots cold
 * (templating off, no usable template, or devices that do not fit the
 * template layout; the log says why), is built as the template (`shim-ctl
 * factory init`), or is restored from it. The planner is the one place that
 * decides, so the sandbox and the factory read the same rules.
 * @module
 */
import { getLogger } from "../../common/log.ts";
import { FailedPreconditionError } from "../../common/errors.ts";
import type { Device } from "../device.ts";
import type { DeviceSpec } from "./device_specs.ts";
import type { MemoryFile } from "./memory.ts";
import type { MachineState } from "./snapshot/machine.ts";
import { checkFingerprint, type Fingerprint } from "./snapshot/fingerprint.ts";
import { newMemoryFileName, readSnapshot, writeSnapshot } from "./snapshot/saved_form.ts";
import {
  type TemplateBase,
  templateFiles,
  templateFingerprint,
  templateLayout,
} from "./template.ts";

const log = getLogger("hypervisor.dragonball.template");

/** What a VM does with the template. */
export type TemplatePlan =
  | { kind: "cold" }
  | {
    kind: "build";
    specs: DeviceSpec[];
    memoryFile: MemoryFile;
    /** Saves the paused VM's machine state and makes its memory the template's. */
    commit(machine: MachineState): Promise<void>;
  }
  | { kind: "restore"; specs: DeviceSpec[]; memoryFile: MemoryFile; machine: unknown };

/** The sandbox's side of the plan. */
interface PlanRequest {
  id: string;
  build: boolean;
  devices: readonly Device[];
  vsock: { udsPath: string; guestCid: number };
  netns: string;
}

/** The memory file of the template now in `dir`, if any (replaced by a new build). */
function currentMemory(dir: string): string | undefined {
  try {
    return readSnapshot(dir).memoryPath;
  } catch {
    return undefined; // none, or unusable: factory destroy removes stray memory files
  }
}

/** Plans VMs of one driver configuration. */
export class TemplatePlanner {
  readonly #base: TemplateBase;

  constructor(
    private readonly o: {
      kernel: string;
      initrd: string;
      image: string;
      vcpus: number;
      memoryMib: number;
      templatePath: string;
    },
    private readonly blockSlots: number,
    cmdline: string,
  ) {
    this.#base = { ...o, cmdline };
  }

  /** The plan for one VM (throws only for a template build that cannot be one). */
  plan(r: PlanRequest): TemplatePlan {
    const dir = this.o.templatePath;
    if (!dir) {
      if (r.build) {
        throw new FailedPreconditionError(
          "Cannot build a template: [hypervisor.dragonball.factory] enable_template is off",
        );
      }
      return { kind: "cold" };
    }
    const files = templateFiles(dir);
    const layout = templateLayout(
      this.o.image,
      r.devices,
      r.vsock,
      files.share,
      r.netns,
      this.blockSlots,
    );
    if ("misfit" in layout) {
      if (r.build) throw new FailedPreconditionError(`Cannot build a template: ${layout.misfit}`);
      log.info("sandbox {id} boots cold, not from the template at {dir}: {why}", {
        id: r.id,
        dir,
        why: layout.misfit,
      });
      return { kind: "cold" };
    }
    const fingerprint = templateFingerprint(this.#base, layout);
    if (r.build) return this.#build(dir, layout.specs, fingerprint);
    try {
      const saved = readSnapshot(dir);
      checkFingerprint(dir, saved.fingerprint, fingerprint);
      log.info("sandbox {id} is restored from the template at {dir}", { id: r.id, dir });
      return {
        kind: "restore",
        specs: layout.specs,
        memoryFile: { path: saved.memoryPath, mode: "private" },
        machine: saved.machine,
      };
    } catch (e) {
      log.info("sandbox {id} boots cold: {why}", { id: r.id, why: (e as Error).message });
      return { kind: "cold" };
    }
  }

  #build(dir: string, specs: DeviceSpec[], fingerprint: Fingerprint): TemplatePlan {
    const files = templateFiles(dir);
    Deno.mkdirSync(files.share, { recursive: true, mode: 0o700 });
    const memoryBytes = this.o.memoryMib * 1024 * 1024;
    return {
      kind: "build",
      specs,
      memoryFile: { path: files.building, mode: "shared" },
      commit: async (machine) => {
        // Renames, never a rewrite: clones of an older template keep mapping its file.
        const old = currentMemory(dir);
        const memoryFile = newMemoryFileName();
        await Deno.rename(files.building, `${dir}/${memoryFile}`);
        await writeSnapshot(dir, { fingerprint, memoryBytes, memoryFile, machine });
        if (old) await Deno.remove(old).catch(() => {/* gone already */});
      },
    };
  }
}
