// Runs one fuzz input against one parser inside a worker thread, so a hang can be stopped (worker.terminate())
// and an allocation blow-up hits the worker's heap limit instead of the test process. Plain CommonJS: the worker
// compiles the TypeScript sources itself with @swc/core (the same compiler jest uses), as jest's transform does
// not reach worker threads.
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = (m, filename) => {
  const out = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: { target: 'es2022', parser: { syntax: 'typescript', decorators: true } },
    module: { type: 'commonjs' },
    sourceMaps: false,
  });
  m._compile(out.code, filename);
};

const root = path.resolve(__dirname, '../..');
const { LtError } = require(path.join(root, 'src/errors.ts'));
const { MultipartParser, parseStowContentType } = require(path.join(root, 'src/ingest/multipart.ts'));
const { readInstanceInfo } = require(path.join(root, 'src/ingest/part10.ts'));
const { parsePart10, parsePart10Inflating, parseEncapsulated, NeedsInflating } = require(path.join(root, 'src/dicom/part10.ts'));
const { headerFromParsed, readInstanceHeader, pixelDataProblem, isNativeSyntax, nativeFrameBytes } = require(path.join(root, 'src/dicom/instance-header.ts'));
const { decodeFrame, initDecoders } = require(path.join(root, 'src/volume/decode.ts'));
const { framesOfFragments } = require(path.join(root, 'src/volume/build-volume.ts'));

const tmp = workerData.tmp; // made and removed by the harness
let fileNo = 0;
function tempFile(bytes) {
  const p = path.join(tmp, `${fileNo++ % 4}.dcm`);
  fs.writeFileSync(p, bytes);
  return p;
}

/** A tiny deterministic PRNG (mulberry32). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parses a multipart body in the given chunks; returns a summary that must not depend on the chunking. */
function multipartRun(boundary, body, chunks) {
  const p = new MultipartParser(boundary, 4096);
  const parts = [];
  let cur;
  const on = (ev) => {
    if (ev.type === 'partStart') parts.push((cur = { headers: ev.headers, bytes: [] }));
    else if (ev.type === 'data') {
      if (!cur) throw new Error('data event outside a part');
      cur.bytes.push(Buffer.from(ev.data));
    } else if (ev.type === 'partEnd') cur = undefined;
  };
  try {
    let at = 0;
    for (const n of chunks) {
      for (const ev of p.push(Buffer.from(body.subarray(at, at + n)))) on(ev);
      at += n;
    }
    if (at < body.length) for (const ev of p.push(Buffer.from(body.subarray(at)))) on(ev);
    p.finish();
    return JSON.stringify(parts.map((x) => [x.headers, Buffer.concat(x.bytes).toString('base64')]));
  } catch (e) {
    if (e instanceof LtError) return `LtError ${e.message} after ${JSON.stringify(parts.map((x) => [x.headers, Buffer.concat(x.bytes).toString('base64')]))}`;
    throw e;
  }
}

const targets = {
  multipart(bytes, meta) {
    const r = rng(meta.seed);
    const chunks = [];
    let left = bytes.length;
    while (left > 0) {
      const n = 1 + Math.floor(r() * Math.min(left, r() < 0.5 ? 8 : 300));
      chunks.push(n);
      left -= n;
    }
    const whole = multipartRun(meta.boundary, bytes, [bytes.length]);
    const bytewise = multipartRun(meta.boundary, bytes, chunks);
    // The parser's result must not depend on how the network split the body.
    if (whole !== bytewise) throw new Error(`chunking changed the result:\n whole:   ${whole.slice(0, 300)}\n chunked: ${bytewise.slice(0, 300)}`);
    return whole.startsWith('LtError') ? 'lt' : 'ok';
  },
  contentType(bytes) {
    parseStowContentType(bytes.toString('latin1'));
    return 'ok';
  },
  walk(bytes) {
    try {
      parsePart10(bytes, { toEnd: true });
    } catch (e) {
      if (!(e instanceof NeedsInflating)) throw e;
    }
    return 'ok';
  },
  async instanceInfo(bytes) {
    await readInstanceInfo(tempFile(bytes));
    return 'ok';
  },
  async volume(bytes) {
    // As the volume stage does it: header read from the file (partial reads), then the frame decoded.
    const h = await readInstanceHeader(tempFile(bytes));
    const parsed = await parsePart10Inflating(bytes);
    headerFromParsed('mem', parsed, bytes.length);
    const problem = pixelDataProblem(h);
    if (problem) return 'rejected';
    const px = parsed.pixelData;
    let frame;
    if (isNativeSyntax(h.transferSyntaxUid)) {
      const fb = nativeFrameBytes(h);
      frame = (parsed.inflated ?? bytes).subarray(px.offset, px.offset + fb);
    } else {
      const { offsets, fragments } = parseEncapsulated(bytes.subarray(px.offset), 0, true);
      frame = framesOfFragments(bytes.subarray(px.offset), offsets, fragments, h.numberOfFrames)[0];
    }
    await initDecoders();
    await decodeFrame(frame, h);
    return 'ok';
  },
};

parentPort.on('message', async ({ id, target, bytes, meta }) => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const t0 = performance.now();
  try {
    const kind = await targets[target](buf, meta || {});
    parentPort.postMessage({ id, kind, ms: performance.now() - t0 });
  } catch (e) {
    const lt = e instanceof LtError;
    parentPort.postMessage({
      id,
      kind: lt ? 'lt' : 'crash',
      ms: performance.now() - t0,
      name: e && e.name,
      message: String((e && e.message) || e).slice(0, 500),
      stack: lt ? undefined : String(e && e.stack).split('\n').slice(0, 8).join('\n'),
    });
  }
});
