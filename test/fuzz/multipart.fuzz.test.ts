/**
 * Mutation fuzzing of the STOW-RS multipart parser (src/ingest/multipart.ts) and of the Content-Type parser.
 * Each input is parsed twice, whole and split into random small chunks: the result must be the same (the network
 * decides the chunking), and the only acceptable failure is LtError. Bounded: 4000 inputs or 20 s per family.
 */
import { fuzzFamily, type FamilyReport } from './harness';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { multipartBody } from '../support/stow';

const [dcm] = phantomSeries(chestPhantom({ size: 16, slices: 1 }), { seed: 'fuzz-multipart' });
const small = dcm.bytes.subarray(0, 600);
const ORTHANC_BOUNDARY = 'a8b3f2d1-7c44-4a0e-9a55-0f1e2d3c4b5aa8b3f2d1-7c44-4a0e-9a55-0f1e2d3c4b5a';

const seeds = [
  { bytes: multipartBody([small]), meta: { boundary: 'lt-test-boundary-7d3f' } },
  { bytes: multipartBody([small, Buffer.from('second part'), Buffer.alloc(0)], 'b'), meta: { boundary: 'b' } },
  { bytes: multipartBody([Buffer.from('x\r\n--notit\r\n--b'), small], ORTHANC_BOUNDARY), meta: { boundary: ORTHANC_BOUNDARY } },
  // preamble, transport padding after the boundary, a part without headers, an epilogue
  {
    bytes: Buffer.from(`preamble line\r\n--q  \t\r\n\r\nbody-no-headers\r\n--q\r\nContent-Type: application/dicom\r\nX-A: b\r\n\r\nDICM\r\n--q--\r\nepilogue`, 'latin1'),
    meta: { boundary: 'q' },
  },
  // a body holding a near-delimiter
  { bytes: Buffer.from(`--zz\r\n\r\n\r\n--z\r\n-zz\r\n--zzz\r\n--zz--`, 'latin1'), meta: { boundary: 'zz' } },
];

const report = (r: FamilyReport) => `${r.family}: ${r.inputs} inputs in ${r.seconds} s, outcomes ${JSON.stringify(r.outcomes)}, slowest ${r.maxMs} ms, RSS +${r.rssGrowthMb} MB`;

describe('fuzz: multipart parser', () => {
  test('4000 mutated bodies (or 20 s): only LtError, chunking never changes the result, no hang, memory flat', async () => {
    const r = await fuzzFamily({ family: 'multipart body', target: 'multipart', seeds, seed: 0x5eed01, maxInputs: 4000, budgetMs: 20_000, timeoutMs: 2000 });
    process.stdout.write(report(r) + '\n');
    expect(r.crashes).toEqual([]);
    expect(r.inputs).toBeGreaterThanOrEqual(500);
    expect(r.outcomes.ok).toBeGreaterThan(0);
    expect(r.outcomes.lt).toBeGreaterThan(0);
    expect(r.rssGrowthMb).toBeLessThan(300);
  }, 60_000);

  test('1500 mutated Content-Type headers (or 10 s): only LtError', async () => {
    const cts = [
      'multipart/related; type="application/dicom"; boundary=abc',
      'multipart/related; boundary="a;b\\"c"; type=application/dicom',
      'Multipart/Related;type="application/dicom";boundary=' + ORTHANC_BOUNDARY,
    ].map((s) => ({ bytes: Buffer.from(s, 'latin1') }));
    const r = await fuzzFamily({ family: 'content-type', target: 'contentType', seeds: cts, seed: 0x5eed02, maxInputs: 1500, budgetMs: 10_000, timeoutMs: 2000 });
    process.stdout.write(report(r) + '\n');
    expect(r.crashes).toEqual([]);
    expect(r.outcomes.ok).toBeGreaterThan(0);
  }, 40_000);
});
