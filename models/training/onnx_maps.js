// Runs the shipped slice model (onnxruntime-node, as the worker does) on float32 inputs [N,3,S,S] read from a file and
// writes its `lesion_map` output (the infection probability) [N,mh,mw] as float32. Used by score_masks.py.
// Usage (repo root): node models/training/onnx_maps.js MODEL.onnx IN.bin N SIZE OUT.bin
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const [model, input, n, size, out] = process.argv.slice(2);
  const N = Number(n);
  const S = Number(size);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const plane = 3 * S * S;
  const chunks = [];
  for (let i = 0; i < N; i += 16) {
    const k = Math.min(16, N - i);
    const r = await session.run({ input: new ort.Tensor('float32', x.slice(i * plane, (i + k) * plane), [k, 3, S, S]) });
    chunks.push(Buffer.from(r.lesion_map.data.buffer, r.lesion_map.data.byteOffset, r.lesion_map.data.byteLength));
  }
  fs.writeFileSync(out, Buffer.concat(chunks));
})().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
