/**
 * Our results in the viewer radiologists use (issue 15): a real OHIF v3 (test/support/ohif.ts) in headless Chromium
 * against a real Orthanc. The results are made the real way: Orthanc auto-routes two phantom studies to a real gateway
 * and worker, which send the SR, heat maps and KOS back into each study. OHIF must list the study, open it, draw the
 * SR's findings with readable labels, show a heat map, and open a failure report without crashing. Screenshots are
 * kept under out/ohif/ for review.
 */
import { readPart10, SopClass } from '../../src/dicom/dcmjs';
import { freePort } from '../../src/db/database';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { TestOhif } from '../support/ohif';
import { TestOrthanc } from '../support/orthanc';
import { until } from '../support/wait';
import type { Page } from 'puppeteer-core' with { 'resolution-mode': 'import' };

/** Series UIDs of a study in Orthanc by SOP Class UID of their instances (QIDO-RS). */
async function seriesByClass(orthanc: TestOrthanc, studyUid: string): Promise<Record<string, string>> {
  const res = await fetch(`${orthanc.dicomWebUrl}/studies/${studyUid}/instances`, { headers: orthanc.authHeader() });
  const out: Record<string, string> = {};
  for (const i of (await res.json()) as Record<string, { Value?: string[] }>[]) out[String(i['00080016']?.Value?.[0])] = String(i['0020000E']?.Value?.[0]);
  return out;
}

describe('OHIF v3 shows our results from Orthanc', () => {
  let orthanc: TestOrthanc;
  let ohif: TestOhif;
  let page: Page;
  let cleanup: () => Promise<void>;
  const positive = phantomSeries(chestPhantom({ size: 128, slices: 24, seed: 'ohif-positive' }), { seed: 'ohif-positive' });
  // The same body without lungs: the gateway calls it not applicable and sends a failure report alone.
  const noLungs = chestPhantom({ size: 96, slices: 24, seed: 'ohif-no-lungs' });
  for (let i = 0; i < noLungs.hu.length; i++) if (noLungs.hu[i] > -960 && noLungs.hu[i] < -300) noLungs.hu[i] = 40;
  const failed = phantomSeries(noLungs, { seed: 'ohif-no-lungs' });
  const studyOf = (s: typeof positive) => readPart10(s[0].bytes).dataset.StudyInstanceUID as string;
  let positiveSeries: Record<string, string>;
  let failedSeries: Record<string, string>;

  beforeAll(async () => {
    orthanc = new TestOrthanc({ autoroute: true, stableAge: 2 });
    orthanc.httpPort = await freePort();
    let gwUrl: string;
    // LT_REPORT_NOT_APPLICABLE: the lung-less study gets its short "not analysed" report, the one failure report here.
    ({ url: gwUrl, cleanup } = await testGateway({ LT_PACS_URL: `${orthanc.dicomWebUrl}`, LT_SELECT_MIN_SLICES: '10', LT_POLL_MS: '200', LT_REPORT_NOT_APPLICABLE: 'true' }));
    (orthanc as unknown as { opts: { aiUrl: string } }).opts.aiUrl = `${gwUrl}/dicom-web/`;
    await orthanc.start();
    await orthanc.upload([...positive, ...failed].map((s) => s.bytes));
    positiveSeries = await until('the positive study\'s results in Orthanc', async () => {
      const c = await seriesByClass(orthanc, studyOf(positive));
      return c[SopClass.Comprehensive3dSr] && c[SopClass.SecondaryCapture] ? c : undefined;
    }, 180_000, 500);
    failedSeries = await until('the failure report in Orthanc', async () => {
      const c = await seriesByClass(orthanc, studyOf(failed));
      return c[SopClass.Comprehensive3dSr] ? c : undefined;
    }, 180_000, 500);
    ohif = await new TestOhif({ orthancUrl: orthanc.url, orthancHeaders: orthanc.authHeader() }).start();
    page = await ohif.newPage();
  }, 300_000);
  afterAll(async () => {
    await ohif?.stop();
    await orthanc?.destroy();
    await cleanup?.();
  });
  beforeEach(() => ohif.errors.splice(0));

  test('the study list shows the study with its SR', async () => {
    await ohif.openStudyList(page, studyOf(positive));
    const row = await page.$eval(`[data-cy="studyRow-${studyOf(positive)}"]`, (e) => e.textContent ?? '');
    await ohif.screenshot(page, 'study-list');
    expect(row).toMatch(/CT\\.*SR/); // the modalities in the study: the CT and our results
    expect(ohif.errors).toEqual([]);
  });

  test('the viewer opens the study on the CT, not on an AI image, and lists the result series', async () => {
    await ohif.openStudy(page, studyOf(positive));
    const instance = await ohif.waitForImage(page);
    await ohif.screenshot(page, 'viewer-ct');
    expect(instance).toMatch(/I:\s*\d+ \(\d+\/24\)/); // the 24-slice CT is what opens
    const series = await page.$$eval('[data-cy="series-description-label"]', (l) => l.map((e) => e.textContent ?? ''));
    expect(series).toEqual(expect.arrayContaining([expect.stringMatching(/AI triage report/), expect.stringMatching(/AI lesion heat maps/)]));
    const pixels = await ohif.viewportPixels(page);
    expect(pixels.drawn).toBeGreaterThan(0.2);
    expect(await ohif.errorNotice(page)).toBeUndefined();
    expect(ohif.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  });

  test('the SR opens on its key slice with readable finding labels', async () => {
    await ohif.openStudy(page, studyOf(positive), positiveSeries[SopClass.Comprehensive3dSr]);
    await ohif.waitForImage(page);
    const labels = await ohif.annotationLabels(page);
    await ohif.screenshot(page, 'viewer-sr');
    expect(labels.length).toBeGreaterThan(0);
    expect(labels[0]).toMatch(/lesion probability: 0\.\d+/i); // the finding's name with its value
    for (const l of labels) expect(l).not.toMatch(/undefined|null|NaN|\[object/);
    expect(await ohif.errorNotice(page)).toBeUndefined();
    expect(ohif.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  });

  test('a heat map displays, in colour', async () => {
    await ohif.openStudy(page, studyOf(positive), positiveSeries[SopClass.SecondaryCapture]);
    const instance = await ohif.waitForImage(page);
    await ohif.screenshot(page, 'viewer-heatmap');
    expect(instance).toMatch(/I:\s*1 \(1\/\d\)/);
    expect((await ohif.viewportPixels(page)).coloured).toBeGreaterThan(0.005);
    expect(ohif.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  });

  test('a failure report ("not applicable") is the study\'s one result and OHIF lists it', async () => {
    expect(Object.keys(failedSeries).sort()).toEqual([SopClass.CtImage, SopClass.Comprehensive3dSr].sort());
    await ohif.openStudy(page, studyOf(failed));
    await ohif.waitForImage(page);
    const series = await page.$$eval('[data-cy="series-description-label"]', (l) => l.map((e) => e.textContent ?? ''));
    expect(series).toEqual(expect.arrayContaining([expect.stringMatching(/AI triage report/)]));
  });

  // Known defect, for src/results (issue 15 item 3): opening the failure report (first in the viewport, or from the
  // study browser as a reader would) makes OHIF 3.12 show "Something went wrong": its cornerstone-dicom-sr
  // _checkIfCanAddMeasurementsToDisplaySet reads coords[0].ReferencedSOPSequence of the report's one measurement
  // group, which has no image region (coords is []). When the report is fixed this test fails as "failing test
  // passed": make it a plain test then.
  test.failing('a failure report opens without an error', async () => {
    await ohif.openStudy(page, studyOf(failed), failedSeries[SopClass.Comprehensive3dSr]);
    await page.waitForNetworkIdle();
    const notice = await ohif.errorNotice(page, 10_000);
    await ohif.screenshot(page, 'viewer-failure-report');
    expect(notice).toBeUndefined();
    expect(ohif.errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
  });
});
