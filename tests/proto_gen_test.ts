// Checks that the committed generated protobuf code matches what `deno task proto`
// produces from the .proto sources, so nobody edits gen/ by hand or forgets to regenerate.
import { assertEquals } from "./assert.ts";

const root = new URL("..", import.meta.url).pathname;
const modules = ["service", "agent", "ttrpc"];

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) files.push(...await listFiles(`${dir}/${entry.name}`, rel + "/"));
    else files.push(rel);
  }
  return files.sort();
}

Deno.test("generated protobuf code is up to date with the .proto sources", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "proto-gen-" });
  try {
    const { code, stderr } = await new Deno.Command(`${root}scripts/proto`, {
      args: [tmp],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(code, 0, `scripts/proto failed: ${new TextDecoder().decode(stderr)}`);
    for (const module of modules) {
      const committed = `${root}${module}/gen`;
      const fresh = `${tmp}/${module}/gen`;
      const committedFiles = await listFiles(committed);
      assertEquals(
        committedFiles,
        await listFiles(fresh),
        `${module}/gen has a different file set`,
      );
      for (const file of committedFiles) {
        const want = await Deno.readTextFile(`${fresh}/${file}`);
        const have = await Deno.readTextFile(`${committed}/${file}`);
        assertEquals(have === want, true, `${module}/gen/${file} is stale: run deno task proto`);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
