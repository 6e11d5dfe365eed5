/**
 * Seed files for the DICOM fuzzers: a small synthetic phantom slice in every transfer syntax we can produce here
 * (dcmjs for the uncompressed ones and deflate; dcmtk's dcmcjpeg, dcmcjpls and dcmcrle for the compressed ones, run
 * at test time), an Enhanced CT (multi-frame, functional groups), and, when ../shared/data is present, two real
 * thorax slices (used as seeds only: no real bytes ever go into a fixture).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TransferSyntax } from '../../src/dicom/dcmjs';
import { chestPhantom, enhancedCtInstance, phantomSeries } from '../../src/synthetic/phantom';
import { sharedData } from '../support/shared-data';
import { tempDir } from '../support/temp-dir';

export interface Seed {
  name: string;
  bytes: Buffer;
}

function dcmtk(tool: string, args: string[], input: Buffer, dir: string): Buffer | undefined {
  const src = path.join(dir, `${tool}-in.dcm`);
  const dst = path.join(dir, `${tool}-out.dcm`);
  writeFileSync(src, input);
  try {
    execFileSync(tool, [...args, src, dst], { timeout: 20_000, stdio: 'ignore' });
    return readFileSync(dst);
  } catch {
    return undefined; // dcmtk missing: the README's set-up installs it; the other seeds still run
  }
}

/** Builds the seeds (about 20 KB each for the synthetic ones). */
export function dicomSeeds(opts: { real?: boolean } = {}): Seed[] {
  const vol = chestPhantom({ size: 48, slices: 2 });
  const seeds: Seed[] = [];
  for (const [name, ts] of [
    ['explicit-le', TransferSyntax.ExplicitLittle],
    ['implicit-le', TransferSyntax.ImplicitLittle],
    ['explicit-be', TransferSyntax.ExplicitBig],
    // dcmjs's deflate output is not readable by dcmtk either ("invalid stored block lengths"): a broken-file seed.
    ['deflate-dcmjs-broken', TransferSyntax.DeflatedExplicitLittle],
  ] as const) {
    const [s] = phantomSeries(vol, { seed: 'fuzz-seeds', transferSyntax: ts, patientName: 'FUZZ^SEED' });
    seeds.push({ name, bytes: s.bytes });
  }
  // Number of Frames written with room for big values (IS allows leading zeros), so digit mutations can reach
  // absurd frame counts: the fuzzer found 3,000,000 frames exhausting the heap in headerFromParsed.
  const [framed] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'fuzz-frames', extra: { NumberOfFrames: '00000001' } });
  seeds.push({ name: 'explicit-le-numberofframes', bytes: framed.bytes });
  const dir = tempDir('fuzz-seeds');
  try {
    const base = seeds[0].bytes;
    for (const [name, tool, args] of [
      ['jpeg-lossless', 'dcmcjpeg', ['+e1']],
      ['jpeg-ls', 'dcmcjpls', []],
      ['rle', 'dcmcrle', []],
      ['deflate', 'dcmconv', ['+td']],
    ] as const) {
      const out = dcmtk(tool, [...args], base, dir);
      if (out) seeds.push({ name, bytes: out });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  seeds.push({ name: 'enhanced-ct', bytes: enhancedCtInstance(chestPhantom({ size: 16, slices: 3 }), { seed: 'fuzz-enhanced' }).bytes });
  if (opts.real) {
    const dirReal = sharedData('thorax-ct-dicom/series');
    if (existsSync(dirReal)) {
      const files = readdirSync(dirReal).sort();
      for (const f of [files[0], files[Math.floor(files.length / 2)]]) seeds.push({ name: `real-${f}`, bytes: readFileSync(path.join(dirReal, f)) });
    }
  }
  return seeds;
}
