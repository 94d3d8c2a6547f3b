/**
 * `deno task install [--destdir DIR] [--default-hypervisor NAME]`: installs
 * the built shim and the shipped configurations the way upstream's
 * `make install` lays them out:
 * - the shim as `/usr/local/bin/containerd-shim-kata-v2` (a bundled build
 *   keeps its JS file and pinned deno in `/usr/local/lib/runtime-ts/`);
 * - `config/configuration-*.toml` in `/usr/share/defaults/kata-containers/runtime-rs/`,
 *   with `configuration.toml` a link to the default hypervisor's file.
 * Run `deno task build` first.
 * @module
 */
import { parseFlags } from "../common/flags.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const NAME = "containerd-shim-kata-v2";

/** Where things go, relative to a destination root. */
export const LAYOUT = {
  bin: "/usr/local/bin",
  lib: "/usr/local/lib/runtime-ts",
  configs: "/usr/share/defaults/kata-containers/runtime-rs",
} as const;

async function exists(p: string): Promise<boolean> {
  return await Deno.lstat(p).then(() => true, () => false);
}

async function replaceLink(target: string, link: string) {
  await Deno.remove(link).catch(() => {});
  await Deno.symlink(target, link);
}

/** Installs into `destdir` (the real root by default); returns the paths written. */
export async function install(destdir: string, defaultHypervisor: string): Promise<string[]> {
  const dist = `${ROOT}/dist`;
  const launcher = `${dist}/${NAME}`;
  if (!await exists(launcher)) {
    throw new Error(`${launcher} is missing: run 'deno task build' first`);
  }
  const written: string[] = [];
  const bin = `${destdir}${LAYOUT.bin}`;
  await Deno.mkdir(bin, { recursive: true });
  if (await exists(`${dist}/${NAME}.js`)) {
    // Bundled build: the launcher finds its JS file and deno next to its real path.
    const lib = `${destdir}${LAYOUT.lib}`;
    await Deno.mkdir(lib, { recursive: true });
    for (const f of [NAME, `${NAME}.js`, "deno"]) {
      await Deno.remove(`${lib}/${f}`).catch(() => {});
      await Deno.copyFile(`${dist}/${f}`, `${lib}/${f}`);
      written.push(`${lib}/${f}`);
    }
    // The bundle's chunks (code splitting: each action loads only its own).
    await Deno.remove(`${lib}/js`, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${lib}/js`);
    for await (const e of Deno.readDir(`${dist}/js`)) {
      await Deno.copyFile(`${dist}/js/${e.name}`, `${lib}/js/${e.name}`);
      written.push(`${lib}/js/${e.name}`);
    }
    await replaceLink(`${LAYOUT.lib}/${NAME}`, `${bin}/${NAME}`);
  } else {
    await Deno.remove(`${bin}/${NAME}`).catch(() => {});
    await Deno.copyFile(launcher, `${bin}/${NAME}`);
  }
  written.push(`${bin}/${NAME}`);

  const configs = `${destdir}${LAYOUT.configs}`;
  await Deno.mkdir(configs, { recursive: true });
  const names: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}/config`)) {
    if (e.isFile && /^configuration-.+\.toml$/.test(e.name)) names.push(e.name);
  }
  for (const n of names.sort()) {
    await Deno.copyFile(`${ROOT}/config/${n}`, `${configs}/${n}`);
    written.push(`${configs}/${n}`);
  }
  const def = `configuration-${defaultHypervisor}.toml`;
  if (!names.includes(def)) {
    throw new Error(
      `no shipped configuration for default hypervisor ${
        JSON.stringify(defaultHypervisor)
      } (${def})`,
    );
  }
  await replaceLink(def, `${configs}/configuration.toml`);
  written.push(`${configs}/configuration.toml`);
  return written;
}

if (import.meta.main) {
  const { values } = parseFlags(Deno.args, {
    destdir: { kind: "string", usage: "install under this root (packaging)", default: "" },
    "default-hypervisor": {
      kind: "string",
      usage: "hypervisor whose configuration becomes configuration.toml",
      default: "dragonball",
    },
  });
  const written = await install(values.destdir.replace(/\/$/, ""), values["default-hypervisor"]);
  for (const w of written) console.log(`installed ${w}`);
  // The configurations name guest artifacts this step does not install.
  console.log(
    "next: scripts/build-guest --install (the guest under every name the configurations use), " +
      "then `containerd-shim-kata-v2 check --all` lists what each configuration still lacks",
  );
}
