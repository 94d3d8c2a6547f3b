/**
 * `-info`: the binary `containerd.types.RuntimeInfo` containerd 2.x asks
 * for (stdin, the runtime options, is not needed). It claims no mount types
 * (`containerd.io/runtime-allow-mounts`): the shim mounts only plain bind and
 * overlay rootfs mounts, so containerd must keep handling the special types
 * (`mkdir/*`, `format/*`, erofs) itself.
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { RuntimeInfoSchema } from "../service/gen/containerd/types/introspection_pb.ts";
import { buildInfo, VERSION } from "./version.ts";

/** Runtime name reported to containerd. */
const RUNTIME_NAME = "io.containerd.kata.v2";

/** Prints RuntimeInfo; returns the exit code. */
export async function info(_inv: unknown): Promise<number> {
  const msg = create(RuntimeInfoSchema, {
    name: RUNTIME_NAME,
    version: { version: VERSION, revision: buildInfo().commit },
  });
  const bytes = toBinary(RuntimeInfoSchema, msg);
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
  return 0;
}
