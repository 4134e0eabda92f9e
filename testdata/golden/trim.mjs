// Trims a run.mjs output file to what tflite/golden_test.go needs and records the model path.
// node trim.mjs OUT.json MODEL_PATH_FROM_REPO_ROOT [FROM_HEX TO_HEX]
// FROM_HEX/TO_HEX record a byte patch applied to the model before the run (the test applies it too).
import fs from 'node:fs';
const [file, model, from, to] = process.argv.slice(2);
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!r.ok) { console.error(`${file}: the reference run failed`, r.nativeErrors); process.exit(1); }
const t = (x) => ({ name: x.name, dtype: x.dtype, shape: x.shape, quant: x.quant ?? null, ...(x.data ? { data: x.data } : {}) });
const patch = from ? { patch: { from, to } } : {};
console.log(JSON.stringify({ model, ...patch, runtime: r.runtime, inputs: r.inputs.map(t), outputs: r.outputs.map(t) }));
