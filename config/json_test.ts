import { assertEquals } from "../tests/assert.ts";
import { configToJson } from "./json.ts";

Deno.test("configToJson writes bigint as exact JSON integers and leaves strings alone", () => {
  const text = configToJson({ big: 9223372036854775807n, s: "9223372036854775807", n: 1 }, 0);
  assertEquals(text, '{"big":9223372036854775807,"s":"9223372036854775807","n":1}');
});
