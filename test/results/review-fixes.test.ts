/**
 * Regression tests for the PACS integration review of the results (issue 15): each block pins one finding, checked
 * on the encoded objects and with the real validators (dciodvfy, dsrdump) where they apply.
 */
import { readPart10, type NaturalDataset } from '../../src/dicom/dcmjs';
import { buildResults } from '../../src/results';
import { dsrdump } from './dicom-tools';
import { syntheticStudy } from './fixtures';
import { findItems } from './sr-tree';

const NOW = new Date('2026-03-01T10:00:00Z');
const fx = syntheticStudy();
const positive = buildResults({ study: fx.study, volume: fx.volume, analysis: fx.analysis, keySlices: 4, now: NOW });
const ds = (b: Buffer): NaturalDataset => readPart10(b).dataset;

describe('Finding Site is a concept modifier (TID 1501/1410)', () => {
  test('every Finding Site item is HAS CONCEPT MOD, in the measurement groups and the qualitative evaluations', () => {
    const sr = ds(positive.sr.bytes);
    const sites = findItems(sr, '363698007');
    const inGroups = findItems(sr, '125007').flatMap((g) => findItems(g, '363698007'));
    expect(inGroups.length).toBeGreaterThan(0);
    expect(sites.length).toBeGreaterThan(inGroups.length);
    expect(sites.map((s) => s.RelationshipType)).toEqual(sites.map(() => 'HAS CONCEPT MOD'));
    const out = dsrdump(positive.sr.bytes).output;
    expect(out).toContain('<has concept mod CODE:(363698007,SCT,"Finding Site")');
    expect(out).not.toMatch(/<contains CODE:\(363698007,SCT/);
  });
});
