/**
 * Header gating (issue 16, item 4): from Body Part Examined and the protocol / series / study descriptions, read
 * from real Part 10 files, a series of another anatomy is "not applicable" with the reason; chest and combined
 * regions with the chest pass, as does a header that says nothing.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { headerNotChestReason } from '../../src/study/series-selection';
import { chestPhantom, writePhantomSeries, type SeriesOptions } from '../../src/synthetic/phantom';
import { readSeriesHeaders } from '../../src/volume';
import { selectSeries } from '../../src/study/series-selection';
import { tempDir } from '../support/temp-dir';

describe('header gating', () => {
  const tmp = tempDir('vol');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const vol = chestPhantom({ size: 32, slices: 24, seed: 'header-gating' });
  let n = 0;
  const selection = async (extra: NonNullable<SeriesOptions['extra']>) => {
    const dir = path.join(tmp, String(++n));
    mkdirSync(dir);
    const files = writePhantomSeries(dir, vol, { seed: `hg-${n}`, extra });
    return selectSeries(await readSeriesHeaders(files));
  };

  test.each([
    [{ BodyPartExamined: 'ABDOMEN' }, /^not applicable: Body Part Examined is ABDOMEN, not the chest$/],
    [{ BodyPartExamined: 'HEAD' }, /^not applicable: Body Part Examined is HEAD/],
    [{ BodyPartExamined: '', StudyDescription: 'CT ABDOMEN PELVIS', SeriesDescription: 'Axial 1.0' }, /^not applicable: Study Description "CT ABDOMEN PELVIS" names no chest$/],
    [{ BodyPartExamined: '', StudyDescription: '', ProtocolName: 'BRAIN ROUTINE', SeriesDescription: 'Axial 1.0' }, /^not applicable: Protocol Name "BRAIN ROUTINE"/],
  ])('%j is not applicable', async (extra, reason) => {
    const sel = await selection(extra);
    expect(sel.chosen).toBeUndefined();
    expect(sel.rejected[0].reason).toMatch(reason);
  });

  test.each([
    [{ BodyPartExamined: 'CHEST' }],
    [{ BodyPartExamined: 'CHEST_ABDOMEN_PELVIS' }],
    [{ BodyPartExamined: '', StudyDescription: 'CT CHEST ABDOMEN PELVIS' }],
    [{ BodyPartExamined: '', StudyDescription: '', SeriesDescription: 'Thorax 1.0 B70f' }],
    [{ BodyPartExamined: '', StudyDescription: '', SeriesDescription: '' }],
  ])('%j is analysed', async (extra) => {
    expect((await selection(extra)).chosen).toBeDefined();
  });

  test('a body part naming a region of the chest wins over descriptions naming other anatomy', () => {
    expect(headerNotChestReason({ bodyPartExamined: 'THORAX', studyDescription: 'CT ABDOMEN' })).toBeUndefined();
  });
});
