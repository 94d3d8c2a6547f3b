import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { assertEquals } from "../tests/assert.ts";
import { DeleteResponseSchema } from "../service/gen/containerd/task/v2/shim_pb.ts";
import { encodeDeleteResponse } from "./delete_response.ts";

Deno.test("delete response: the hand encoding decodes as containerd's DeleteResponse", () => {
  const at = new Date("2026-11-29T05:30:01.234Z");
  for (const [pid, status] of [[0, 137], [4242, 0], [1, 255]]) {
    const r = fromBinary(DeleteResponseSchema, encodeDeleteResponse(pid, status, at));
    assertEquals(r.pid, pid);
    assertEquals(r.exitStatus, status);
    assertEquals(timestampDate(r.exitedAt!).getTime(), at.getTime());
  }
});
