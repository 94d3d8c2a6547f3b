import { assertEquals, assertStringIncludes } from "../tests/assert.ts";
import { type Figures, median, sharefsTable } from "./sharefs_table.ts";

function run(scale: number): Record<string, number> {
  return {
    find: 1 * scale,
    create: 2 * scale,
    stat: 1 * scale,
    remove: 1 * scale,
    write: 4 * scale,
    read: 3 * scale,
    untar: 2 * scale,
  };
}

const FIGURES: Figures = {
  kernel: "6.1.0-57-amd64",
  memoryMib: 512,
  smallFiles: 2000,
  treeEntries: 10000,
  bigMib: 256,
  untarEntries: 400,
  cache: "auto",
  load: ["0.50 0.40 0.30", "1.00 0.80 0.60"],
  runs: {
    inline: [run(1), run(1.2), run(0.9)],
    "9p": [run(3), run(3), run(3)],
    qemu: [run(0.5), run(0.5), run(0.5)],
  },
  failures: [],
};

Deno.test("median takes the middle value, the upper one of an even count", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 3);
});

Deno.test("sharefsTable shows medians with ranges, ratios, and each target met or missed", () => {
  const t = sharefsTable(FIGURES);
  assertStringIncludes(
    t,
    "| create+stat+remove of 2,000 files | 4.00 s (3.60–4.80) | 12.00 s (12.00–12.00) | " +
      "2.00 s (2.00–2.00) | 3.00× | 0.50× | ≥2× 9p: met, ≤ QEMU: **missed** |",
  );
  assertStringIncludes(t, "|   of which stat | 1.00 s (0.90–1.20) |");
  assertStringIncludes(t, "| sequential read, 256 MiB | 3.00 s (2.70–3.60) |");
  assertStringIncludes(t, "0.50× | ≤ QEMU: **missed** |");
  assertStringIncludes(t, "Missed: create+stat+remove of 2,000 files vs QEMU (0.50×)");
  assertStringIncludes(t, "median (min–max) of 3 runs");
  assertStringIncludes(t, "1.00 0.80 0.60");
});

Deno.test("sharefsTable says all targets were met when they were", () => {
  const t = sharefsTable({ ...FIGURES, runs: { ...FIGURES.runs, qemu: [run(2), run(2), run(2)] } });
  assertStringIncludes(t, "All that could be judged were met.");
});

Deno.test("sharefsTable marks a column whose runs all failed, and lists the failures", () => {
  const t = sharefsTable({
    ...FIGURES,
    runs: { ...FIGURES.runs, "9p": [] },
    failures: ["run 1 of 9p: Benchmark guest never finished"],
  });
  assertStringIncludes(t, "| 4.00 s (3.60–4.80) | not measured | 2.00 s (2.00–2.00) | – | 0.50× |");
  assertStringIncludes(t, "Failed runs: run 1 of 9p: Benchmark guest never finished.");
  assertStringIncludes(t, "median (min–max) of 3, 0, 3 runs");
  assertStringIncludes(t, "0.50× | ≥2× 9p: not measured, ≤ QEMU: **missed** |");
  const none = sharefsTable({ ...FIGURES, runs: { inline: [], "9p": [], qemu: [] }, failures: [] });
  assertStringIncludes(none, "| find over a 10,000-entry tree | not measured |");
  assertStringIncludes(none, "None could be judged: a column is missing.");
});
