/**
 * `-info`: the binary `containerd.types.RuntimeInfo` containerd 2.x asks
 * for at start-up (stdin, the runtime options, is not needed).
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
    annotations: { "containerd.io/runtime-allow-mounts": "mkdir/*,format/*,erofs" },
  });
  const bytes = toBinary(RuntimeInfoSchema, msg);
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
  return 0;
}
