// Trims a run.mjs output file to what tflite/golden_test.go needs and records the model path.
// node trim.mjs OUT.json MODEL_PATH_FROM_REPO_ROOT
import fs from 'node:fs';
const [file, model] = process.argv.slice(2);
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!r.ok) { console.error(`${file}: the reference run failed`, r.nativeErrors); process.exit(1); }
const t = (x) => ({ name: x.name, dtype: x.dtype, shape: x.shape, quant: x.quant ?? null, ...(x.data ? { data: x.data } : {}) });
console.log(JSON.stringify({ model, runtime: r.runtime, inputs: r.inputs.map(t), outputs: r.outputs.map(t) }));
