// llama_speed.mjs - llama.cpp's CPU speed (node-llama-cpp's prebuilt build) on a GGUF, measured
// as npu-bench e2e measures edge-npu: a prefill of PROMPT random tokens, then GEN greedy decode
// steps, median of REPS runs, THREADS threads.
// usage: node llama_speed.mjs MODEL.gguf THREADS PROMPT GEN REPS
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, threadsArg, promptArg, genArg, repsArg] = process.argv.slice(2);
const [threads, nPrompt, nGen, reps] = [threadsArg, promptArg, genArg, repsArg].map(Number);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
let seed = 1;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
const pf = [], dec = [];

for (let r = 0; r < reps + 1; r++) { // the first run warms up and is not counted
  const ctx = await model.createContext({contextSize: nPrompt + nGen + 16, threads,
    batchSize: nPrompt, sequences: 1, flashAttention: false});
  const seq = ctx.getSequence();
  const prompt = [model.tokens.bos];
  while (prompt.length < nPrompt)
    prompt.push(3 + (rand() % 31000));
  let t0 = process.hrtime.bigint();
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, -1));
  let t1 = process.hrtime.bigint();
  let n = 0, tDec0 = t1;
  for await (const tok of seq.evaluate([prompt[prompt.length - 1]], {temperature: 0})) {
    void tok;
    if (++n === 1)
      tDec0 = process.hrtime.bigint(); // the last prompt token's step is prefill
    if (n > nGen)
      break;
  }
  const t2 = process.hrtime.bigint();
  if (r > 0) {
    pf.push(Number(t1 - t0) / 1e9 / (nPrompt - 1));
    dec.push(Number(t2 - tDec0) / 1e9 / nGen);
  }
  await ctx.dispose();
}
console.log(`llama.cpp: prefill ${(1 / median(pf)).toFixed(1)} tokens/s (${nPrompt} tokens), ` +
            `decode ${(1 / median(dec)).toFixed(1)} tokens/s (${nGen} tokens), ${threads} threads, ` +
            `median of ${reps}`);
await model.dispose();
