/**
 * Character sets (issue 17): a Japanese name in ISO 2022 IR 87 (refused before: dcmjs takes one term only) and a
 * Chinese one in GB18030 (its ideographic group was dropped) are decoded from the source and copied whole into every
 * result object, each of which says ISO_IR 192 and carries the same bytes; a list we cannot decode is refused by name.
 */
import { readPart10 } from '../../src/dicom/dcmjs';
import { parsePart10 } from '../../src/dicom/part10';
import { Tags } from '../../src/dicom/tags';
import { buildResults, studyContextFromDataset } from '../../src/results';
import { CHINESE_NAME, CHINESE_NAME_TEXT, JAPANESE_NAME, JAPANESE_NAME_TEXT, seriesWithName } from '../support/charset';
import { dciodvfy, dsrdump } from './dicom-tools';
import { syntheticStudy } from './fixtures';

const fx = syntheticStudy({ size: 64, slices: 24, seed: 'charsets' });
/** Patient Name (0010,0010)'s bytes as written, padding removed. */
const PATIENT_NAME = 0x00100010;
const nameBytes = (file: Buffer) => parsePart10(file).dataset.bytes(PATIENT_NAME)!.toString('latin1').replace(/ +$/, '');

describe.each([
  ['ISO 2022 IR 87 (Japanese, code extensions)', ['', 'ISO 2022 IR 87'], JAPANESE_NAME, JAPANESE_NAME_TEXT],
  ['ISO 2022 IR 6 \\ ISO 2022 IR 87', ['ISO 2022 IR 6', 'ISO 2022 IR 87'], JAPANESE_NAME, JAPANESE_NAME_TEXT],
  ['GB18030 (Chinese)', ['GB18030'], CHINESE_NAME, CHINESE_NAME_TEXT],
])('%s', (_name, charset, bytes, text) => {
  const [source] = seriesWithName(charset, bytes, { seed: `charset-${charset.join('-')}` });
  const study = studyContextFromDataset(readPart10(source.bytes).dataset);

  test('the name is decoded whole: every component group, every character', () => {
    expect(study.PatientName).toBe(text);
  });

  test('SR, SEG, heat maps, KOS and summary all say ISO_IR 192 and carry the same bytes, the name in UTF-8', () => {
    const results = buildResults({ study: { ...fx.study, PatientName: study.PatientName }, volume: fx.volume, analysis: fx.analysis, keySlices: 2, now: new Date('2026-03-01T10:00:00Z') });
    expect(new Set(results.objects.map((o) => o.kind))).toEqual(new Set(['sr', 'seg', 'heatmap', 'kos', 'summary']));
    const utf8 = Buffer.from(text, 'utf8').toString('latin1');
    for (const o of results.objects) {
      expect(parsePart10(o.bytes).dataset.string(Tags.SpecificCharacterSet)).toBe('ISO_IR 192');
      expect(nameBytes(o.bytes)).toBe(utf8);
    }
    expect(dciodvfy(results.sr.bytes).errors).toEqual([]);
    expect(dsrdump(results.sr.bytes, ['+U8']).output).toContain(text);
  });
});

test('a list of character sets one decoder cannot read is refused, naming the SOP Instance UID', () => {
  const [source] = seriesWithName(['', 'ISO 2022 IR 149'], Buffer.from('Hong^Gildong', 'latin1'), { seed: 'charset-korean' });
  expect(() => readPart10(source.bytes)).toThrow(new RegExp(`Specific Character Set \\\\ISO 2022 IR 149 is not supported.*${source.sopInstanceUid}`));
});
