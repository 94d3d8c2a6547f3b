/**
 * Debian's installer netboot kernel and initrd for the third-party boot test
 * (`vmm_third_party_test.ts`), with Debian's own `virtio_blk.ko` for that
 * kernel appended as a second cpio archive (the netboot initrd fetches its
 * disk drivers from a mirror). Built once and cached under `.cache/vmm/d-i`.
 * It needs apt, which works only on the outer host: `scripts/test-vm` runs
 * this file as a script before entering the test host.
 * @module
 */
import { runScript } from "../command.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const DI = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64";
const CACHE = `${ROOT}/.cache/vmm/d-i`;

/**
 * Debian's netboot kernel and an initrd made of d-i's `initrd.gz` followed by
 * a cpio with Debian's `virtio_blk.ko` for that kernel, built once and cached.
 */
export async function installerAssets(): Promise<{ kernel: string; initrd: string }> {
  const initrd = `${CACHE}/initrd-virtio-blk.gz`;
  try {
    Deno.statSync(initrd);
  } catch {
    await runScript(`
      test -f "${DI}/linux" -a -f "${DI}/initrd.gz" || {
        echo "d-i netboot images missing: apt-get install debian-installer-12-netboot-amd64" >&2
        exit 1
      }
      t="${CACHE}.tmp" && rm -rf "$t" && mkdir -p "$t/dl" "$t/tree"
      (cd "$t/tree" && zcat "${DI}/initrd.gz" | cpio -id --quiet 'lib/modules/*')
      ver=$(ls "$t/tree/lib/modules" | head -1)
      (cd "$t/dl" && { apt-get download "linux-image-$ver" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get download "linux-image-$ver" >/dev/null; }; })
      dpkg-deb --fsys-tarfile "$t"/dl/linux-image-*.deb |
        tar -x -C "$t/dl" --wildcards "./lib/modules/$ver/kernel/drivers/block/virtio_blk.ko*"
      mkdir -p "$t/tree/lib/modules/$ver/kernel/drivers/block"
      cp "$t"/dl/lib/modules/$ver/kernel/drivers/block/virtio_blk.ko* \\
        "$t/tree/lib/modules/$ver/kernel/drivers/block/"
      depmod -b "$t/tree" "$ver"
      (cd "$t/tree" && find "lib/modules/$ver/kernel/drivers/block" lib/modules/$ver/modules.* |
        cpio -o -H newc --quiet | gzip -9) >"$t/virtio-blk.cpio.gz"
      cat "${DI}/initrd.gz" "$t/virtio-blk.cpio.gz" >"$t/initrd-virtio-blk.gz"
      mkdir -p "${CACHE}" && mv "$t/initrd-virtio-blk.gz" "${initrd}" && rm -rf "$t"
    `);
  }
  return { kernel: `${DI}/linux`, initrd };
}

if (import.meta.main) await installerAssets();
