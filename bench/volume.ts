/* eslint-disable no-console */
/**
 * Volume stage benchmark (one run, side by side, ratios; not a test).
 *   npm run build && node dist/bench/volume.js
 * 1. The real thorax series (../shared/data/thorax-ct-dicom/series): headers + HU volume, uncompressed and JPEG lossless
 *    (made here by dcmtk in a temp dir), vs dcmtk's command-line decoding of the same files (one process per file, as
 *    the tools work) and vs pydicom + numpy (uncompressed; same work: read, sort along the normal, rescale to int16).
 * 2. Peak memory building a synthetic 600-slice 512x512 study, in a child process: RSS growth / HU volume size.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildVolume, readSeriesHeaders } from '../src/volume';
import { selectSeries } from '../src/study/series-selection';
import { chestPhantom, phantomSeries } from '../src/synthetic/phantom';

const THORAX = path.resolve(__dirname, '../../../shared/data/thorax-ct-dicom/series');
const THORAX_SRC = path.resolve(__dirname, '../../shared/data/thorax-ct-dicom/series');

async function ours(files: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const h = await readSeriesHeaders(files);
  const sel = selectSeries(h, { minSlices: 2 });
  await buildVolume(h.filter((x) => x.seriesUid === sel.chosen!.seriesUid));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function wall(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** dcmtk over a folder, one process per file, sequential (the tools take one file each). */
function dcmtk(tool: string, args: string[], inDir: string, outDir: string): number {
  mkdirSync(outDir, { recursive: true });
  const script = `cd "$1" && for f in *; do ${tool} ${args.join(' ')} "$f" "$2/$f" || exit 1; done`;
  return wall(() => execFileSync('bash', ['-c', script, 'bash', inDir, outDir], { stdio: 'ignore' }));
}

const PY = `
import sys, time, os, numpy as np, pydicom
t0 = time.perf_counter()
d = sys.argv[1]
dss = [pydicom.dcmread(os.path.join(d, f)) for f in sorted(os.listdir(d))]
iop = np.array(dss[0].ImageOrientationPatient, dtype=float)
n = np.cross(iop[:3], iop[3:])
dss.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), n)))
vol = np.empty((len(dss), dss[0].Rows, dss[0].Columns), dtype=np.int16)
for i, ds in enumerate(dss):
    a = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    vol[i] = np.clip(np.rint(a), -32768, 32767)
print((time.perf_counter() - t0) * 1000)
`;

function best(xs: number[]): number {
  return Math.min(...xs);
}

async function memChild(dir: string): Promise<void> {
  const files = readdirSync(dir).map((f) => path.join(dir, f));
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().rss;
  const h = await readSeriesHeaders(files);
  const v = await buildVolume(h);
  const peakKb = process.resourceUsage().maxRSS;
  const growth = peakKb * 1024 - before;
  const volBytes = v.hu.byteLength;
  console.log(JSON.stringify({ slices: v.slices, volBytes, rssBefore: before, peakRss: peakKb * 1024, growth, ratio: growth / volBytes }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--mem-child') return memChild(process.argv[3]);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'lt-bench-vol-'));
  try {
    const src = existsSync(THORAX) ? THORAX : THORAX_SRC;
    if (existsSync(src)) {
      const files = readdirSync(src).map((f) => path.join(src, f));
      console.log(`thorax series: ${files.length} files (${src})`);
      await ours(files); // warm the page cache and the JIT
      const oursRaw = best([await ours(files), await ours(files), await ours(files)]);
      const dRaw = dcmtk('dcmconv', ['+te'], src, path.join(tmp, 'dcmconv'));
      const py = spawnSync('/usr/bin/python3', ['-c', PY, src], { encoding: 'utf8' });
      const pyIn = Number(py.stdout.trim());
      const pyWall = wall(() => spawnSync('/usr/bin/python3', ['-c', PY, src]));
      console.log(`uncompressed: lung-triage ${oursRaw.toFixed(0)} ms | dcmtk dcmconv (141 processes) ${dRaw.toFixed(0)} ms (ratio ${(dRaw / oursRaw).toFixed(2)}x) | pydicom+numpy in-process ${pyIn.toFixed(0)} ms (ratio ${(pyIn / oursRaw).toFixed(2)}x), with interpreter start ${pyWall.toFixed(0)} ms (ratio ${(pyWall / oursRaw).toFixed(2)}x)`);
      const jl = path.join(tmp, 'jl');
      dcmtk('dcmcjpeg', ['+e1'], src, jl);
      const jlFiles = readdirSync(jl).map((f) => path.join(jl, f));
      await ours(jlFiles);
      const oursJl = best([await ours(jlFiles), await ours(jlFiles), await ours(jlFiles)]);
      const dJl = dcmtk('dcmdjpeg', [], jl, path.join(tmp, 'jl-d'));
      console.log(`JPEG lossless SV1: lung-triage ${oursJl.toFixed(0)} ms | dcmtk dcmdjpeg (141 processes) ${dJl.toFixed(0)} ms (ratio ${(dJl / oursJl).toFixed(2)}x)`);
    } else {
      console.log(`thorax series absent (${src}): skipping the side-by-side timings`);
    }
    // Memory: 600 x 512 x 512, one phantom slice cloned with patched SOP Instance UID and z.
    const tmpl = phantomSeries(chestPhantom({ size: 512, slices: 1 }), { seed: 'bench-mem', sliceGeometry: () => ({ imagePositionPatient: [0, 0, -999.5] }) })[0];
    const uid = Buffer.from(tmpl.sopInstanceUid);
    const mem = path.join(tmp, 'mem');
    mkdirSync(mem);
    for (let k = 0; k < 600; k++) {
      const b = Buffer.from(tmpl.bytes);
      const nu = Buffer.from(tmpl.sopInstanceUid.slice(0, -4) + String(k).padStart(4, '0'));
      for (let at = b.indexOf(uid); at >= 0; at = b.indexOf(uid, at + 1)) nu.copy(b, at);
      Buffer.from((-k * 0.5).toFixed(1).padStart(6)).copy(b, b.indexOf('-999.5'));
      writeFileSync(path.join(mem, `${k}.dcm`), b);
    }
    const child = spawnSync(process.execPath, ['--expose-gc', __filename, '--mem-child', mem], { encoding: 'utf8' });
    const r = JSON.parse(child.stdout.trim().split('\n').pop()!) as { slices: number; volBytes: number; growth: number; ratio: number; peakRss: number };
    console.log(
      `memory, ${r.slices} x 512 x 512: HU volume ${(r.volBytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB, RSS growth ${(r.growth / 2 ** 20).toFixed(0)} MiB = ${r.ratio.toFixed(2)}x the volume (goal <= 2x)`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
