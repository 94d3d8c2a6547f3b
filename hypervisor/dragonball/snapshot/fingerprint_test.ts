import { assertEquals, assertThrows } from "../../../tests/assert.ts";
import { FailedPreconditionError } from "../../../common/errors.ts";
import {
  checkFingerprint,
  fileIdentity,
  type Fingerprint,
  fingerprintDiff,
} from "./fingerprint.ts";

const base: Fingerprint = {
  kernel: { path: "/k", size: 10, mtimeMs: 0 },
  initrd: null,
  image: { path: "/img", size: 20, mtimeMs: 0 },
  vcpus: 1,
  memoryMib: 256,
  cmdline: "console=ttyS0",
  devices: "blk 9p(kataShared) net vsock(3)",
};

Deno.test("fingerprint: the same configuration matches", () => {
  assertEquals(fingerprintDiff(base, structuredClone(base)), []);
  checkFingerprint("/t", base, structuredClone(base));
});

Deno.test("fingerprint: a refusal names every difference", () => {
  const want: Fingerprint = {
    ...base,
    kernel: { path: "/k", size: 11, mtimeMs: 0 },
    vcpus: 2,
    memoryMib: 512,
    cmdline: "console=ttyS0 debug",
  };
  const e = assertThrows(() => checkFingerprint("/t", base, want), FailedPreconditionError);
  assertEquals(
    e.message,
    "Template at /t was built from another configuration: " +
      "kernel /k (10 bytes, modified 1970-01-01T00:00:00.000Z), " +
      "this sandbox /k (11 bytes, modified 1970-01-01T00:00:00.000Z); " +
      "vCPU count 1, this sandbox 2; memory 256 MiB, this sandbox 512 MiB; " +
      'kernel command line "console=ttyS0", this sandbox "console=ttyS0 debug"',
  );
  assertEquals(
    fingerprintDiff(base, { ...base, image: null, devices: "vsock(3)" }),
    [
      "image /img (20 bytes, modified 1970-01-01T00:00:00.000Z), this sandbox none",
      'devices "blk 9p(kataShared) net vsock(3)", this sandbox "vsock(3)"',
    ],
  );
});

Deno.test("fingerprint: a file's identity changes when it is rewritten", () => {
  const f = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(f, "kernel one");
    const one = fileIdentity(f);
    Deno.writeTextFileSync(f, "kernel number two");
    assertEquals(
      fingerprintDiff({ ...base, kernel: one }, { ...base, kernel: fileIdentity(f) }).length,
      1,
    );
  } finally {
    Deno.removeSync(f);
  }
});
