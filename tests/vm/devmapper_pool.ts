/**
 * Test peer: a device-mapper thin pool on loop devices, for containerd's
 * devmapper snapshotter (the block-device rootfs path). Inside the test host,
 * whose Debian kernel has the dm modules; made and torn down by the test.
 * @module
 */
import { kernelAssets } from "./vmm_assets.ts";
import { runScript } from "../command.ts";

/** A thin pool named `name` on two loop devices below `dir`. */
export class ThinPool {
  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly loops: { data: string; meta: string },
  ) {}

  /**
   * Loads dm-thin-pool, makes sparse data (`dataMib`) and metadata files,
   * attaches them to loop devices and creates the pool (64 KiB blocks).
   */
  static async create(name: string, dir: string, dataMib = 1024): Promise<ThinPool> {
    const k = await kernelAssets();
    await runScript(
      `modprobe -d "${k.dir}" -S "${k.version}" -a dm_mod dm_thin_pool loop 2>/dev/null || true`,
    );
    await Deno.mkdir(dir, { recursive: true });
    await runScript(`truncate -s ${dataMib}M "${dir}/data"; truncate -s 64M "${dir}/meta"`);
    const data = (await runScript(`losetup --find --show "${dir}/data"`)).trim();
    let meta = "";
    try {
      meta = (await runScript(`losetup --find --show "${dir}/meta"`)).trim();
      // A fresh pool needs zeroed metadata.
      await runScript(`dd if=/dev/zero of="${meta}" bs=4096 count=1 conv=notrunc 2>/dev/null`);
      const sectors = dataMib * 2048;
      await runScript(
        `dmsetup create "${name}" --table "0 ${sectors} thin-pool ${meta} ${data} 128 32768 1 skip_block_zeroing"`,
      );
    } catch (e) {
      await runScript(`losetup -d ${data} ${meta}`).catch(() => {});
      throw e;
    }
    return new ThinPool(name, dir, { data, meta });
  }

  /** containerd config lines for its devmapper snapshotter on this pool. */
  containerdConfig(rootPath: string): string[] {
    return [
      `[plugins."io.containerd.snapshotter.v1.devmapper"]`,
      `  root_path = "${rootPath}"`,
      `  pool_name = "${this.name}"`,
      `  base_image_size = "128MB"`,
      `  discard_blocks = true`,
    ];
  }

  /** Device-mapper devices of this pool still present (thin devices are named after it). */
  async devices(): Promise<string[]> {
    const out = await runScript("dmsetup ls 2>/dev/null || true");
    return out.split("\n").map((l) => l.split(/\s+/)[0])
      .filter((n) => n.startsWith(this.name) && n !== this.name);
  }

  /** Removes thin devices left, the pool, the loop devices and the files. */
  async destroy(): Promise<void> {
    for (const d of await this.devices()) await runScript(`dmsetup remove "${d}"`).catch(() => {});
    await runScript(`dmsetup remove "${this.name}"`).catch(() => {});
    await runScript(`losetup -d ${this.loops.data} ${this.loops.meta}`).catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
