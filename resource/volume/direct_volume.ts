/**
 * Direct-assigned volumes (kata-ctl `direct-volume`): a volume path is
 * registered by writing its mount info to
 * `/run/kata-containers/shared/direct-volumes/<base64url(path)>/mountInfo.json`;
 * a container that mounts that path then gets the block device (`device`,
 * `fs_type`, `options`) instead of a bind mount of the host path.
 * @module
 */
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../common/errors.ts";

/** Upstream's root (`KATA_DIRECT_VOLUME_ROOT_PATH`). */
const DIRECT_VOLUME_ROOT = "/run/kata-containers/shared/direct-volumes";
/** Upstream's file name (`KATA_MOUNT_INFO_FILE_NAME`). */
const MOUNT_INFO_FILE = "mountInfo.json";

/** The mount info of one direct volume (upstream's field names). */
export interface DirectVolumeMountInfo {
  volume_type: string;
  device: string;
  fs_type: string;
  metadata: Record<string, string>;
  options: string[];
}

/** The root in use (`KATA_DIRECT_VOLUME_ROOT` overrides it, for tests). */
function directVolumeRoot(): string {
  return Deno.env.get("KATA_DIRECT_VOLUME_ROOT") || DIRECT_VOLUME_ROOT;
}

/** URL-safe base64 of the volume path without padding (runtime-rs's `base64_url::encode`). */
export function encodeVolumePath(volumePath: string): string {
  const bytes = new TextEncoder().encode(volumePath);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The directory holding one volume's mount info. */
export function directVolumeDir(volumePath: string, root = directVolumeRoot()): string {
  if (!volumePath.startsWith("/")) {
    throw new InvalidArgumentError(`Direct volume path ${volumePath} is not absolute`);
  }
  return `${root}/${encodeVolumePath(volumePath)}`;
}

/**
 * Validates mount info given as JSON text.
 * @throws {InvalidArgumentError} naming what is wrong
 */
export function parseMountInfo(text: string): DirectVolumeMountInfo {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError(`Mount info is not JSON: ${(e as Error).message}`);
  }
  const o = (v ?? {}) as Record<string, unknown>;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError("Mount info must be a JSON object");
  }
  for (const k of ["device", "fs_type"]) {
    if (typeof o[k] !== "string" || !o[k]) {
      throw new InvalidArgumentError(`Mount info needs a string "${k}"`);
    }
  }
  if (
    o.options !== undefined &&
    !(Array.isArray(o.options) && o.options.every((x) => typeof x === "string"))
  ) {
    throw new InvalidArgumentError(`Mount info "options" must be a list of strings`);
  }
  return {
    volume_type: typeof o.volume_type === "string" ? o.volume_type : "",
    device: o.device as string,
    fs_type: o.fs_type as string,
    metadata: (o.metadata ?? {}) as Record<string, string>,
    options: (o.options ?? []) as string[],
  };
}

/** `direct-volume add`: records the mount info of `volumePath`. */
export async function addDirectVolume(
  volumePath: string,
  info: DirectVolumeMountInfo,
  root = directVolumeRoot(),
): Promise<string> {
  const dir = directVolumeDir(volumePath, root);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = `${dir}/${MOUNT_INFO_FILE}`;
  try {
    await Deno.writeTextFile(file, JSON.stringify(info), { createNew: true, mode: 0o600 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new AlreadyExistsError(`Direct volume ${volumePath} is already added (${file})`);
    }
    throw e;
  }
  return file;
}

/** The mount info of `volumePath`. @throws {NotFoundError} when it was never added */
export async function readDirectVolume(
  volumePath: string,
  root = directVolumeRoot(),
): Promise<DirectVolumeMountInfo> {
  const file = `${directVolumeDir(volumePath, root)}/${MOUNT_INFO_FILE}`;
  try {
    return parseMountInfo(await Deno.readTextFile(file));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(`Direct volume ${volumePath} is not added (no ${file})`);
    }
    throw e;
  }
}

/** `direct-volume remove`: deletes the mount info (only that file and its directory). */
export async function removeDirectVolume(
  volumePath: string,
  root = directVolumeRoot(),
): Promise<void> {
  const dir = directVolumeDir(volumePath, root);
  try {
    await Deno.remove(`${dir}/${MOUNT_INFO_FILE}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new NotFoundError(
        `Direct volume ${volumePath} is not added (no ${dir}/${MOUNT_INFO_FILE})`,
      );
    }
    throw e;
  }
  await Deno.remove(dir).catch(() => {}); // not empty: something else lives there, leave it
}

/**
 * The mount info of `volumePath` when it is registered as a direct volume,
 * else undefined (an ordinary bind mount). Read synchronously: it is one
 * small file, read while a container's mounts are prepared.
 * @throws {InvalidArgumentError} when the registered mount info is malformed
 *   (it is never silently treated as a bind mount of the path)
 */
export function directVolumeOf(
  volumePath: string,
  root = directVolumeRoot(),
): DirectVolumeMountInfo | undefined {
  if (!volumePath.startsWith("/")) return undefined;
  const file = `${directVolumeDir(volumePath, root)}/${MOUNT_INFO_FILE}`;
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return parseMountInfo(text);
  } catch (e) {
    throw new InvalidArgumentError(
      `Direct volume ${volumePath} has malformed mount info in ${file}: ${(e as Error).message}`,
    );
  }
}
