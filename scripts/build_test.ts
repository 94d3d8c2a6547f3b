import { assertEquals } from "../tests/assert.ts";
import { hideLazyImportsIn } from "./build.ts";

Deno.test("hideLazyImportsIn computes each chunk's lazy import specifier at run time", () => {
  const src = 'const a = await import("./serve-TW2LYMZU.js");\nimport("./x_y-1.js").then(f);\n' +
    'import { b } from "./chunk-A.js";\nimport("node:net");\n';
  const { code, count } = hideLazyImportsIn(src);
  assertEquals(count, 2);
  assertEquals(
    code,
    'const a = await import(new URL("./serve-TW2LYMZU.js", import.meta.url).href);\n' +
      'import(new URL("./x_y-1.js", import.meta.url).href).then(f);\n' +
      'import { b } from "./chunk-A.js";\nimport("node:net");\n',
  );
});
