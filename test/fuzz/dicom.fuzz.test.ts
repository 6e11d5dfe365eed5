/**
 * Mutation fuzzing of the DICOM readers: the one Part 10 reader walking a buffer to its end (parsePart10 with toEnd, src/dicom/part10.ts), the ingest header
 * check on files (readInstanceInfo), and the volume stage (readInstanceHeader with its partial reads, pixelDataProblem,
 * the encapsulated fragment split and decodeFrame through the WebAssembly codecs). Seeds: a synthetic slice in seven
 * transfer syntaxes (dcmtk makes the compressed ones at test time), an Enhanced CT, and two real thorax slices when
 * ../shared/data is present. Deterministic seeds; each family bounded by a count and a time budget; each call
 * time-boxed in a worker thread; RSS growth bounded.
 */
import { existsSync } from 'node:fs';
import { fuzzFamily, type FamilyReport } from './harness';
import { dicomSeeds } from './seeds';
import { sharedData } from '../support/shared-data';

const REAL = existsSync(sharedData('thorax-ct-dicom/series'));
const seeds = dicomSeeds({ real: REAL });
const synthetic = seeds.filter((s) => !s.name.startsWith('real-'));
const report = (r: FamilyReport) =>
  `${r.family}: ${r.inputs} inputs in ${r.seconds} s, outcomes ${JSON.stringify(r.outcomes)}, slowest ${r.maxMs} ms, RSS +${r.rssGrowthMb} MB, worker restarts ${r.restarts}`;

describe(`fuzz: DICOM readers (${seeds.length} seeds: ${seeds.map((s) => s.name).join(', ')})`, () => {
  test('the seeds include the compressed syntaxes made by dcmtk', () => {
    expect(seeds.map((s) => s.name)).toEqual(expect.arrayContaining(['explicit-le', 'implicit-le', 'explicit-be', 'deflate', 'jpeg-lossless', 'jpeg-ls', 'rle', 'enhanced-ct']));
  });

  test('parsePart10 to the end of a buffer: 3000 mutated files (or 20 s), only LtError, no hang', async () => {
    const r = await fuzzFamily({ family: 'part10 walk', target: 'walk', seeds: seeds.map((s) => ({ bytes: s.bytes })), seed: 0xd1c0, maxInputs: 3000, budgetMs: 20_000, timeoutMs: 3000, elementAware: true });
    process.stdout.write(report(r) + '\n');
    expect(r.crashes).toEqual([]);
    expect(r.outcomes.ok).toBeGreaterThan(0);
    expect(r.outcomes.lt).toBeGreaterThan(0);
    expect(r.rssGrowthMb).toBeLessThan(400);
  }, 90_000);

  test('readInstanceInfo on files: 2000 mutated files (or 20 s), only LtError, no hang', async () => {
    const r = await fuzzFamily({ family: 'readInstanceInfo', target: 'instanceInfo', seeds: synthetic.map((s) => ({ bytes: s.bytes })), seed: 0xd1c1, maxInputs: 2000, budgetMs: 20_000, timeoutMs: 3000, elementAware: true });
    process.stdout.write(report(r) + '\n');
    expect(r.crashes).toEqual([]);
    expect(r.outcomes.ok).toBeGreaterThan(0);
    expect(r.rssGrowthMb).toBeLessThan(400);
  }, 90_000);

  test('volume headers + frame decoding: 2000 mutated files (or 20 s), only LtError, no hang', async () => {
    const r = await fuzzFamily({ family: 'volume header+decode', target: 'volume', seeds: seeds.map((s) => ({ bytes: s.bytes })), seed: 0xd1c2, maxInputs: 2000, budgetMs: 20_000, timeoutMs: 5000, elementAware: true });
    process.stdout.write(report(r) + '\n');
    expect(r.crashes).toEqual([]);
    expect(r.outcomes.ok).toBeGreaterThan(0);
    expect(r.rssGrowthMb).toBeLessThan(500);
  }, 90_000);
});
