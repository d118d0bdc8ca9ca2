// compare.mjs - diffs two JSON-lines dumps (edge-npu vs llama.cpp): token ids, the length of
// the common greedy continuation, and the largest logit / top-1 probability difference over
// the steps whose contexts are still identical.
// usage: node compare.mjs A.jsonl B.jsonl
import fs from "fs";

const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const A = read(process.argv[2]), B = read(process.argv[3]);
let worst = {ids: 0, match: Infinity, logit: 0, p1: 0};

A.forEach((a, i) => {
  const b = B[i];
  const idsEqual = JSON.stringify(a.ids) === JSON.stringify(b.ids);
  let m = 0;
  while (m < a.steps.length && m < b.steps.length && a.steps[m].tok === b.steps[m].tok)
    m++;
  let dl = 0, dp = 0;
  for (let s = 0; s <= Math.min(m, a.steps.length - 1, b.steps.length - 1); s++) {
    const other = new Map(b.steps[s].top);
    for (const [id, v] of a.steps[s].top)
      if (other.has(id))
        dl = Math.max(dl, Math.abs(v - other.get(id)));
    if (a.steps[s].tok === b.steps[s].tok)
      dp = Math.max(dp, Math.abs(a.steps[s].p1 - b.steps[s].p1));
  }
  console.log(`${JSON.stringify(a.prompt).padEnd(26)} ids ${idsEqual ? "equal" : "DIFFER"}` +
              `  greedy ${m}/${a.steps.length}  max dlogit ${dl.toExponential(2)}` +
              `  max dp1 ${dp.toExponential(2)}`);
  worst = {ids: worst.ids + !idsEqual, match: Math.min(worst.match, m),
           logit: Math.max(worst.logit, dl), p1: Math.max(worst.p1, dp)};
});
console.log(`summary: ${worst.ids} tokenization differences, shortest common greedy run ` +
            `${worst.match}, max dlogit ${worst.logit.toExponential(2)}, max dp1 ` +
            `${worst.p1.toExponential(2)}`);
process.exitCode = worst.ids ? 1 : 0;
