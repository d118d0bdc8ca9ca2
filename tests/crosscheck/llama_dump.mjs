// llama_dump.mjs - greedy decoding through llama.cpp (node-llama-cpp's prebuilt CPU build),
// printed in enpu_dump's JSON-lines format.
// usage: node llama_dump.mjs MODEL.gguf STEPS KV_TYPE(F32|F16) PROMPT...
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, stepsArg, kv, ...prompts] = process.argv.slice(2);
const steps = Number(stepsArg);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const next = {generateNext: {token: true, logits: {filter: {tokens: [], includeTop: 5}},
                             totalLogitWeight: true, options: {temperature: 0}}};

for (const prompt of prompts) {
  // F32 KV cache: llama.cpp's default F16 cache rounds keys/values that edge-npu keeps in F32
  const ctx = await model.createContext({contextSize: 512, threads: 1, sequences: 1,
    flashAttention: false, experimentalKvCacheKeyType: kv, experimentalKvCacheValueType: kv});
  const seq = ctx.getSequence();
  const ids = [model.tokens.bos, ...model.tokenize(prompt, false)];
  const out = [];
  let input = ids.map((t, i) => (i === ids.length - 1 ? [t, next] : t));
  for (let k = 0; k < steps; k++) {
    const res = await seq.controlledEvaluate(input);
    const nx = res[res.length - 1].next;
    out.push({top: [...nx.logits.entries()].slice(0, 5), p1: 1 / nx.totalLogitWeight,
              tok: nx.token});
    if (nx.token === model.tokens.eos)
      break;
    input = [[nx.token, next]];
  }
  console.log(JSON.stringify({prompt, ids, steps: out}));
  await ctx.dispose();
}
await model.dispose();
