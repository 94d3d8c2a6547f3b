import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { assertEquals, assertThrows } from "../tests/assert.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeRequestFrame,
  encodeRequestPrefix,
  encodeResponse,
  encodeResponseFrame,
} from "./envelope.ts";
import { HEADER_SIZE, readHeader } from "./frame.ts";
import { RequestSchema, ResponseSchema } from "./gen/ttrpc/request_pb.ts";

Deno.test("encodeRequest() produces the worked Connect request bytes", () => {
  const bytes = encodeRequest({
    service: "containerd.task.v2.Task",
    method: "Connect",
    payload: new Uint8Array([0x0a, 3, 0x61, 0x62, 0x63]),
    timeoutNano: 0,
    metadata: [],
  });
  const want = [0x0a, 23, ...new TextEncoder().encode("containerd.task.v2.Task")];
  want.push(0x12, 7, ...new TextEncoder().encode("Connect"), 0x1a, 5, 0x0a, 3, 0x61, 0x62, 0x63);
  assertEquals([...bytes], want);
  assertEquals(bytes.length, 0x29);
});

Deno.test("request envelope round-trips through the generated ttrpc.Request", () => {
  const req = {
    service: "grpc.AgentService",
    method: "CreateContainer",
    payload: new Uint8Array([1, 2, 3]),
    timeoutNano: 30_000_000_000,
    metadata: [{ key: "a", value: "1" }, { key: "a", value: "2" }, { key: "b", value: "" }],
  };
  const viaGen = fromBinary(RequestSchema, encodeRequest(req));
  assertEquals(viaGen.service, req.service);
  assertEquals(viaGen.timeoutNano, 30_000_000_000n);
  assertEquals(viaGen.metadata.map((kv) => [kv.key, kv.value]), [["a", "1"], ["a", "2"], [
    "b",
    "",
  ]]);
  const back = decodeRequest(toBinary(RequestSchema, viaGen));
  assertEquals(back, req);
});

Deno.test("encodeResponse() always writes a status, as Go does (OK is 0a 00)", () => {
  assertEquals([...encodeResponse({ payload: new Uint8Array([8, 1]) })], [0x0a, 0, 0x12, 2, 8, 1]);
  const err = encodeResponse({
    status: { code: 5, message: "not found", details: [] },
    payload: new Uint8Array(0),
  });
  assertEquals(
    [...err],
    [0x0a, 0x0d, 0x08, 0x05, 0x12, 0x09, ...new TextEncoder().encode("not found")],
  );
  const gen = fromBinary(ResponseSchema, err);
  assertEquals([gen.status?.code, gen.status?.message], [5, "not found"]);
});

Deno.test("decodeResponse() reads a generated response with details, and a missing status", () => {
  const msg = create(ResponseSchema, {
    status: {
      code: 9,
      message: "bad state",
      details: [{ typeUrl: "x/y.Z", value: new Uint8Array([1]) }],
    },
    payload: new Uint8Array([4]),
  });
  const res = decodeResponse(toBinary(ResponseSchema, msg));
  assertEquals(res.status, {
    code: 9,
    message: "bad state",
    details: [{ typeUrl: "x/y.Z", value: new Uint8Array([1]) }],
  });
  assertEquals(decodeResponse(new Uint8Array([0x12, 1, 7])), { payload: new Uint8Array([7]) });
});

Deno.test("decodeRequest() rejects truncated bytes and wrong wire types, skips unknown fields", () => {
  assertThrows(() => decodeRequest(new Uint8Array([0x0a, 10, 0x61])));
  assertThrows(() => decodeRequest(new Uint8Array([0x08, 1])), Error, "field 1 has wire type 0");
  assertThrows(() => decodeRequest(new Uint8Array([0x07])));
  assertEquals(decodeRequest(new Uint8Array([0x30, 5, 0x12, 1, 0x4d])).method, "M");
});

Deno.test("encodeRequestFrame() writes header and envelope in one buffer, negative int64 as ten bytes", () => {
  const frame = encodeRequestFrame(
    7,
    1,
    encodeRequestPrefix("s", "m"),
    new Uint8Array([9]),
    -1,
    [{ key: "k", value: "vé" }],
  );
  assertEquals(readHeader(frame), {
    length: frame.length - HEADER_SIZE,
    streamId: 7,
    type: 1,
    flags: 0,
  });
  const gen = fromBinary(RequestSchema, frame.subarray(HEADER_SIZE));
  assertEquals([gen.service, gen.method, [...gen.payload], gen.timeoutNano], ["s", "m", [9], -1n]);
  assertEquals(gen.metadata.map((kv) => [kv.key, kv.value]), [["k", "vé"]]);
  assertEquals(decodeRequest(frame.subarray(HEADER_SIZE)).timeoutNano, -1);
  // Varints past 2^49 take the exact path.
  const far = create(RequestSchema, { service: "s", timeoutNano: 2n ** 52n + 3n });
  assertEquals(decodeRequest(toBinary(RequestSchema, far)).timeoutNano, 2 ** 52 + 3);
});

Deno.test("encodeResponseFrame() matches the generated ttrpc.Response, details and negative codes included", () => {
  const status = {
    code: -2,
    message: "bad",
    details: [{ typeUrl: "t/u", value: new Uint8Array([1, 2]) }, {
      typeUrl: "",
      value: new Uint8Array(0),
    }],
  };
  const frame = encodeResponseFrame(3, 2, status, new Uint8Array([5]));
  assertEquals(readHeader(frame), {
    length: frame.length - HEADER_SIZE,
    streamId: 3,
    type: 2,
    flags: 0,
  });
  const want = toBinary(
    ResponseSchema,
    create(ResponseSchema, { status, payload: new Uint8Array([5]) }),
  );
  assertEquals([...frame.subarray(HEADER_SIZE)], [...want]);
  assertEquals(decodeResponse(want).status, status);
});
