// ONNX (onnxruntime-node) vs PyTorch golden outputs. Run from the repo root:
//   node models/training/check_onnx.js [modelsDir]
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const dir = process.argv[2] || path.join(__dirname, '..');
const TYPES = { float32: Float32Array, int16: Int16Array, uint8: Uint8Array };

function load(name) {
  const hdr = JSON.parse(fs.readFileSync(path.join(dir, 'golden', name + '.json')));
  const buf = fs.readFileSync(path.join(dir, 'golden', hdr.file));
  const get = (k) => {
    const a = hdr.arrays[k];
    const T = TYPES[a.dtype];
    const copy = buf.buffer.slice(buf.byteOffset + a.byteOffset, buf.byteOffset + a.byteOffset + a.byteLength);
    return { data: new T(copy), shape: a.shape };
  };
  return { hdr, get };
}
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

(async () => {
  const man = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json')));
  let worst = 0;
  const slice = await ort.InferenceSession.create(path.join(dir, man.slice.file));
  for (const name of ['phantom-hu', 'phantom-figure', 'fallback-hu']) {
    const { get } = load(name);
    const t = get('tensor');
    const [W, H, Wd] = t.shape;
    const x = new Float32Array(W * 3 * H * Wd);
    for (let w = 0; w < W; w++) for (let c = 0; c < 3; c++) x.set(t.data.subarray(w * H * Wd, (w + 1) * H * Wd), (w * 3 + c) * H * Wd);
    const out = await slice.run({ input: new ort.Tensor('float32', x, [W, 3, H, Wd]) });
    for (const k of Object.keys(man.slice.outputs)) {
      const d = maxDiff(out[k].data, get(k).data);
      worst = Math.max(worst, d);
      console.log(`${name} ${k} dims=${out[k].dims} maxAbsDiff=${d.toExponential(2)}`);
    }
  }
  const files = [man.patient, ...(man.patient.alternatives ?? [])];
  for (const p of files) {
    const sess = await ort.InferenceSession.create(path.join(dir, p.file));
    for (const name of ['patient-s7', 'patient-s3']) {
      const { get } = load(name);
      const feeds = {};
      for (const k of Object.keys(p.inputs)) { const a = get(k); feeds[k] = new ort.Tensor('float32', a.data, a.shape); }
      const out = await sess.run(feeds);
      for (const k of Object.keys(p.outputs)) {
        const d = maxDiff(out[k].data, get(k).data);
        worst = Math.max(worst, d);
        console.log(`${p.kind} ${name} ${k}=${Array.from(out[k].data).map((v) => v.toFixed(4))} maxAbsDiff=${d.toExponential(2)}`);
      }
    }
  }
  console.log(worst <= 1e-4 ? `OK worst=${worst.toExponential(2)}` : `FAIL worst=${worst.toExponential(2)}`);
  process.exit(worst <= 1e-4 ? 0 : 1);
})();
