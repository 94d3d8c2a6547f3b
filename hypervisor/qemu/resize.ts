/**
 * QEMU vCPU and memory resizing through QMP: vCPUs are hotplugged into the
 * slots `query-hotpluggable-cpus` reports (and only those can be unplugged);
 * memory grows by plugging DIMMs and never shrinks.
 * @module
 */
import { InvalidArgumentError, UnimplementedError } from "../../common/errors.ts";
import type { VcpuResize } from "../hypervisor.ts";
import type { QemuOptions } from "./options.ts";
import type { QmpClient } from "./qmp.ts";

interface HotpluggableCpu {
  type: string;
  "vcpus-count": number;
  props: Record<string, number>;
  "qom-path"?: string;
}

/** vCPU and memory sizes of one QEMU VM and the hotplugged pieces behind them. */
export class QemuResizer {
  readonly #o: QemuOptions;
  /** Hotplugged vCPU device ids, in plug order. */
  readonly #hotCpus: string[] = [];
  #vcpus: number;
  #memoryMib: number;
  #dimms = 0;

  constructor(options: QemuOptions) {
    this.#o = options;
    this.#vcpus = options.vcpus;
    this.#memoryMib = options.memoryMib;
  }

  /** Hotplugs or unplugs vCPUs of VM `vmId` through `query-hotpluggable-cpus` / `device_add`. */
  async resizeVcpu(qmp: QmpClient, vmId: string, n: number): Promise<VcpuResize> {
    if (!Number.isInteger(n) || n < 1 || n > this.#o.maxVcpus) {
      throw new InvalidArgumentError(
        `Cannot resize QEMU VM "${vmId}" to ${n} vCPUs: allowed 1..${this.#o.maxVcpus}`,
      );
    }
    const old = this.#vcpus;
    if (n > old) {
      const slots = await qmp.execute<HotpluggableCpu[]>("query-hotpluggable-cpus");
      const free = slots.filter((s) => !s["qom-path"]).sort((a, b) =>
        (a.props["socket-id"] ?? 0) - (b.props["socket-id"] ?? 0)
      );
      for (const s of free.slice(0, n - old)) {
        const id = `cpu-${s.props["socket-id"] ?? 0}-${s.props["core-id"] ?? 0}-${
          s.props["thread-id"] ?? 0
        }`;
        await qmp.deviceAdd({ driver: s.type, id, ...s.props });
        this.#hotCpus.push(id);
        this.#vcpus++;
      }
    } else {
      while (this.#vcpus > n) {
        const id = this.#hotCpus.at(-1);
        if (!id) {
          throw new UnimplementedError(
            `Cannot remove boot vCPUs of QEMU VM "${vmId}": only hotplugged vCPUs can go`,
          );
        }
        await qmp.deviceDel(id);
        this.#hotCpus.pop();
        this.#vcpus--;
      }
    }
    return { old, new: this.#vcpus };
  }

  /**
   * Grows memory of VM `vmId` to `mib` by plugging a DIMM; `shared` backs it
   * with a shared file (virtio-fs daemons map guest RAM).
   */
  async resizeMemory(qmp: QmpClient, vmId: string, mib: number, shared: boolean): Promise<number> {
    if (mib < this.#memoryMib) {
      throw new UnimplementedError(
        `Cannot shrink QEMU VM "${vmId}" memory to ${mib} MiB: memory unplug is not supported`,
      );
    }
    if (mib > this.#o.maxMemoryMib) {
      throw new InvalidArgumentError(
        `Cannot grow QEMU VM "${vmId}" memory to ${mib} MiB: the maximum is ${this.#o.maxMemoryMib} MiB`,
      );
    }
    const grow = mib - this.#memoryMib;
    if (grow === 0) return mib;
    const n = this.#dimms++;
    await qmp.execute(
      "object-add",
      shared
        ? {
          "qom-type": "memory-backend-file",
          id: `mem${n}`,
          size: grow * 1024 * 1024,
          "mem-path": "/dev/shm",
          share: true,
        }
        : { "qom-type": "memory-backend-ram", id: `mem${n}`, size: grow * 1024 * 1024 },
    );
    await qmp.deviceAdd({ driver: "pc-dimm", id: `dimm${n}`, memdev: `mem${n}` });
    this.#memoryMib = mib;
    return mib;
  }
}
