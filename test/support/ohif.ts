/**
 * A real OHIF v3 viewer for tests: the prebuilt app of the npm package @ohif/app (fetched by `scripts/setup.sh --test`
 * into .lt-cache, pinned in test/viewer/ohif-pin.json), served on loopback with its DICOMweb data source pointed at a
 * real Orthanc, proxied under the same origin (so no CORS), and driven in Debian's headless Chromium by puppeteer-core.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { PNG } from 'pngjs';
import type { Browser, Page, PuppeteerNode } from 'puppeteer-core' with { 'resolution-mode': 'import' };
import { PACKAGE_ROOT } from '../../src/paths';
import { tempDir } from './temp-dir';

const PIN = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'test/viewer/ohif-pin.json'), 'utf8')) as { package: string; version: string };
export const OHIF_DIR = path.join(PACKAGE_ROOT, '.lt-cache', `ohif-${PIN.version}`);
const CHROMIUM = '/usr/bin/chromium';
/** How long a page may take to show what a test waits for (2 busy cores, software WebGL). */
const UI_TIMEOUT_MS = 60_000;

declare global {
  /** Node's own dynamic import, set by test/support/node-environment.js (puppeteer-core is an ES module only). */
  var hostImport: (specifier: string) => Promise<unknown>;
}
/** Screenshots are test artefacts, kept for review. */
export const OHIF_OUT = path.join(PACKAGE_ROOT, 'out', 'ohif');

/** OHIF's app-config.js: one DICOMweb data source, Orthanc's DICOMweb under our own origin. */
function appConfig(): string {
  const config = {
    routerBasename: '/',
    extensions: [],
    modes: [],
    showStudyList: true,
    maxNumberOfWebWorkers: 2,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: false,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    investigationalUseDialog: { option: 'never' },
    showErrorDetails: 'always',
    defaultDataSourceName: 'orthanc',
    dataSources: [
      {
        namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
        sourceName: 'orthanc',
        configuration: {
          friendlyName: 'Orthanc (test)',
          name: 'orthanc',
          wadoUriRoot: '/wado',
          qidoRoot: '/dicom-web',
          wadoRoot: '/dicom-web',
          qidoSupportsIncludeField: false,
          supportsReject: false,
          imageRendering: 'wadors',
          thumbnailRendering: 'wadors',
          enableStudyLazyLoad: true,
          supportsFuzzyMatching: false,
          supportsWildcard: true,
          omitQuotationForMultipartRequest: true,
          bulkDataURI: { enabled: true },
        },
      },
    ],
  };
  return `window.config = ${JSON.stringify(config, null, 2)};\n`;
}

/** Forwards a request to Orthanc unchanged (path and query kept), streaming both ways. */
function proxyTo(orthancUrl: string, headers: Record<string, string>): express.RequestHandler {
  const target = new URL(orthancUrl);
  return (req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.originalUrl, headers: { ...req.headers, host: target.host, ...headers } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', (e) => res.status(502).end(`Orthanc unreachable: ${e.message}`));
    req.pipe(upstream);
  };
}

export interface OhifOptions {
  /** Orthanc's base URL (its DICOMweb plugin answers under /dicom-web). */
  orthancUrl: string;
  /** Headers for Orthanc (its Basic auth, when enabled). */
  orthancHeaders?: Record<string, string>;
}

/** OHIF served on loopback plus one headless Chromium; start(), then open pages; stop() ends both. */
export class TestOhif {
  private server?: http.Server;
  private browser?: Browser;
  private profileDir?: string;
  url = '';
  /** Uncaught page errors and console errors, per page, for the test to assert on. */
  readonly errors: string[] = [];

  constructor(private readonly opts: OhifOptions) {}

  async start(): Promise<this> {
    if (!existsSync(path.join(OHIF_DIR, 'index.html'))) {
      throw new Error(`${OHIF_DIR} is missing: run \`bash scripts/setup.sh --test\` (it fetches ${PIN.package}@${PIN.version} from the npm registry once)`);
    }
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: run \`bash scripts/setup.sh --test\` (it apt-installs chromium)`);
    const app = express();
    const config = appConfig();
    app.get('/app-config.js', (_req, res) => void res.type('application/javascript').send(config));
    app.use(['/dicom-web', '/wado'], proxyTo(this.opts.orthancUrl, this.opts.orthancHeaders ?? {}));
    app.use(express.static(OHIF_DIR, { index: 'index.html' }));
    // A single-page app: every other route (/viewer, /segmentation, ...) is index.html.
    app.use((_req, res) => res.sendFile('index.html', { root: OHIF_DIR }));
    this.server = await new Promise<http.Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    const puppeteer = ((await hostImport('puppeteer-core')) as { default: PuppeteerNode }).default;
    this.profileDir = tempDir('ohif-chromium');
    this.browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: this.profileDir,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--window-size=1400,900'],
      defaultViewport: { width: 1400, height: 900 },
    });
    return this;
  }

  async stop(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    if (this.profileDir) rmSync(this.profileDir, { recursive: true, force: true });
  }

  /** A new tab that records page errors, console errors and failed HTTP requests into `errors`. */
  async newPage(): Promise<Page> {
    if (!this.browser) throw new Error('TestOhif.start() first');
    const page = await this.browser.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    // The first-visit guided tour would cover the viewport.
    await page.evaluateOnNewDocument(`localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']))`);
    page.on('pageerror', (e) => this.errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
    page.on('console', (m) => {
      if (m.type() === 'error') this.errors.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) this.errors.push(`HTTP ${r.status()} ${new URL(r.url()).pathname}`);
    });
    return page;
  }

  /** Opens the study list and waits for the study's row. */
  async openStudyList(page: Page, studyUid: string): Promise<void> {
    await page.goto(`${this.url}/`);
    await page.waitForSelector(`[data-cy="studyRow-${studyUid}"]`);
  }

  /**
   * Opens a study in the viewer, with one of its series first in the viewport (OHIF's initialSeriesInstanceUID), and
   * waits until the study browser lists its series and the viewport is laid out.
   */
  async openStudy(page: Page, studyUid: string, seriesUid?: string): Promise<void> {
    const query = new URLSearchParams({ StudyInstanceUIDs: studyUid, ...(seriesUid ? { initialSeriesInstanceUID: seriesUid } : {}) });
    await page.goto(`${this.url}/viewer?${query}`);
    await page.waitForSelector('[data-cy="viewport-pane"]');
    await page.waitForSelector('[data-cy^="study-browser-thumbnail"]');
  }

  /** Waits for an image in the active viewport: its canvas and the "I:n (n/N)" instance overlay. */
  async waitForImage(page: Page): Promise<string> {
    await page.waitForSelector('[data-cy="viewport-pane"] canvas.cornerstone-canvas');
    const overlay = await page.waitForSelector('xpath///*[@data-cy="viewport-overlay-bottom-right"][contains(., "I:")]');
    return String(await overlay?.evaluate((e) => e.textContent));
  }

  /** The text lines of the annotations OHIF draws on the viewport (SR measurements), once there are any. */
  async annotationLabels(page: Page): Promise<string[]> {
    const sel = '[data-cy="viewport-pane"] svg.svg-layer g[data-annotation-uid] tspan';
    await page.waitForSelector(sel);
    return page.$$eval(sel, (spans) => spans.map((t) => t.textContent ?? ''));
  }

  /** Answers one of OHIF's prompts ("Do you want to ...?") with the button of that name. */
  async answerPrompt(page: Page, button: 'Yes' | 'No'): Promise<void> {
    const b = await page.waitForSelector(`xpath///button[normalize-space()="${button}"]`);
    await b?.click();
  }

  /**
   * What the active viewport shows, from its pixels: the fraction that is not black (an image is drawn) and the
   * fraction in strong colour (a heat map or a segmentation overlay on grey CT).
   */
  async viewportPixels(page: Page): Promise<{ drawn: number; coloured: number }> {
    const pane = await page.waitForSelector('[data-cy="viewport-pane"]');
    const png = PNG.sync.read(Buffer.from((await pane?.screenshot()) as Uint8Array));
    let drawn = 0;
    let coloured = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      if (r + g + b > 60) drawn++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 100) coloured++;
    }
    const n = png.width * png.height;
    return { drawn: drawn / n, coloured: coloured / n };
  }

  /**
   * OHIF's error page, error boundary or error notification ("Something went wrong ..."), if the page shows one,
   * waiting up to waitMs for one to appear (OHIF catches most errors and shows them this way, not in the console).
   */
  async errorNotice(page: Page, waitMs = 0): Promise<string | undefined> {
    const xpath = 'xpath///*[contains(text(), "Something went wrong") or contains(text(), "An error occurred")]';
    const found = waitMs > 0 ? await page.waitForSelector(xpath, { timeout: waitMs }).catch(() => null) : await page.$(xpath);
    return found ? String(await found.evaluate((e) => e.parentElement?.textContent ?? e.textContent)) : undefined;
  }

  /**
   * Asserts that a DICOM SEG loads as an overlay on its CT: opens the study with the SEG first (OHIF shows it over the
   * referenced CT and asks whether to open it), answers Yes, and requires the segment's label in the segmentation panel,
   * coloured overlay pixels in the viewport and no error. Throws an Error naming what is missing; returns what it saw.
   */
  async assertSegmentationOverlay(page: Page, studyUid: string, segSeriesUid: string, segmentLabel: string): Promise<{ instance: string; coloured: number; screenshot: string }> {
    const before = this.errors.length;
    await this.openStudy(page, studyUid, segSeriesUid);
    const instance = await this.waitForImage(page);
    await this.answerPrompt(page, 'Yes').catch(async () => {
      throw new Error(`OHIF did not offer to open series ${segSeriesUid} as a segmentation (see ${await this.screenshot(page, 'seg-not-offered')})`);
    });
    const panelButton = await page.waitForSelector('[data-cy="panelSegmentation-btn"]');
    await panelButton?.click();
    const label = await page.waitForSelector(`xpath///*[@id="viewerLayoutResizableRightPanel"]//*[contains(text(), ${JSON.stringify(segmentLabel)})]`).catch(() => null);
    const screenshot = await this.screenshot(page, `seg-${segSeriesUid.slice(-12)}`);
    if (!label) throw new Error(`OHIF's segmentation panel does not list the segment "${segmentLabel}" (see ${screenshot})`);
    const { coloured } = await this.viewportPixels(page);
    if (coloured < 0.001) throw new Error(`no segmentation overlay drawn on the CT (${(coloured * 100).toFixed(3)}% coloured pixels; see ${screenshot})`);
    const notice = await this.errorNotice(page);
    const errors = this.errors.slice(before).filter((e) => e.startsWith('pageerror'));
    if (notice || errors.length) throw new Error(`OHIF reported an error loading the SEG: ${notice ?? errors.join('; ')} (see ${screenshot})`);
    return { instance, coloured, screenshot };
  }

  /** Saves a PNG of the page under out/ohif/ and returns its path. */
  async screenshot(page: Page, name: string): Promise<string> {
    mkdirSync(OHIF_OUT, { recursive: true });
    const file = path.join(OHIF_OUT, `${name}.png`);
    await page.screenshot({ path: file as `${string}.png` });
    return file;
  }
}
