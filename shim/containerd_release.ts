/**
 * Which containerd started us, so `start` answers in the form that release
 * reads: containerd 2.x takes a JSON bootstrap answer naming shim protocol
 * version 3 (task API v3, the Sandbox API's grouping), while 1.6 reads the
 * whole answer as an address and 1.7 refuses any version above 2. Both pass
 * the same flags and environment, so the release is read from the binary
 * containerd names as `-publish-binary` (its own executable): Go writes the
 * main package's path into the `.go.buildinfo` section, and containerd 2's
 * is `github.com/containerd/containerd/v2/cmd/containerd`.
 * @module
 */

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
/** A section larger than this is not Go's build info (it holds two short strings). */
const MAX_BUILDINFO = 1 << 20;
const MAIN_PATH = /\tgithub\.com\/containerd\/containerd(?:\/v(\d+))?\/cmd\/containerd\n/;

/**
 * The major release of the containerd binary at `path` (1 for 1.x, 2 for
 * 2.x), or undefined when it cannot be told (not a 64-bit little-endian ELF,
 * no Go build info, another program). Reads a few kilobytes, synchronously:
 * it runs on containerd's critical path, in `start`.
 */
export function containerdMajor(path: string): number | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const info = buildInfoSection(file);
    if (!info) return undefined;
    const m = MAIN_PATH.exec(new TextDecoder("latin1").decode(info));
    if (!m) return undefined;
    return m[1] ? Number(m[1]) : 1;
  } finally {
    file.close();
  }
}

function readAt(file: Deno.FsFile, offset: number, length: number): Uint8Array | undefined {
  const buf = new Uint8Array(length);
  file.seekSync(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(buf.subarray(got));
    if (n === null || n === 0) return undefined;
    got += n;
  }
  return buf;
}

/** The bytes of the `.go.buildinfo` section, or undefined. */
function buildInfoSection(file: Deno.FsFile): Uint8Array | undefined {
  const eh = readAt(file, 0, 64);
  if (!eh || ELF_MAGIC.some((b, i) => eh[i] !== b)) return undefined;
  if (eh[4] !== ELFCLASS64 || eh[5] !== ELFDATA2LSB) return undefined;
  const h = new DataView(eh.buffer);
  const shoff = Number(h.getBigUint64(0x28, true));
  const shentsize = h.getUint16(0x3a, true);
  const shnum = h.getUint16(0x3c, true);
  const shstrndx = h.getUint16(0x3e, true);
  if (shentsize < 64 || shnum === 0 || shnum > 4096 || shstrndx >= shnum) return undefined;
  const table = readAt(file, shoff, shentsize * shnum);
  if (!table) return undefined;
  const t = new DataView(table.buffer);
  const section = (i: number) => ({
    name: t.getUint32(i * shentsize, true),
    offset: Number(t.getBigUint64(i * shentsize + 0x18, true)),
    size: Number(t.getBigUint64(i * shentsize + 0x20, true)),
  });
  const strtab = section(shstrndx);
  if (strtab.size > MAX_BUILDINFO) return undefined;
  const names = readAt(file, strtab.offset, strtab.size);
  if (!names) return undefined;
  const want = new TextEncoder().encode(".go.buildinfo\0");
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.name + want.length > names.length) continue;
    if (!want.every((b, k) => names[s.name + k] === b)) continue;
    if (s.size === 0 || s.size > MAX_BUILDINFO) return undefined;
    return readAt(file, s.offset, s.size);
  }
  return undefined;
}
