import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyAuditChain } from '../../src/audit/audit-log';
import { DicomReason } from '../../src/errors';
import type { Gateway } from '../../src/gateway';
import { readPart10 } from '../../src/dicom/dcmjs';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { testGateway } from '../support/gateway';
import { multipartBody, postStow, seqItems } from '../support/stow';

/** A small tmpfs as the data dir makes the disk really full; mounting needs root (the test command runs as root). */
function mountTmpfs(dir: string, size: string, remount = false): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `${remount ? 'remount,' : ''}size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const mountDir = mkdtempSync(path.join(os.tmpdir(), 'lt-full-'));
const canMount = process.getuid?.() === 0 && mountTmpfs(mountDir, '1m');
const describeIfMount = canMount ? describe : describe.skip;

describeIfMount(`disk full under the spool${canMount ? '' : ' [SKIPPED: mounting a tmpfs needs root]'}`, () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  // 30 instances of ~33 KB: about 1 MB, more than the 1 MiB tmpfs holds next to the spool's own files.
  const series = phantomSeries(chestPhantom({ size: 128, slices: 30 }), { seed: 'disk-full' });
  const studyUid = readPart10(series[0].bytes).dataset.StudyInstanceUID as string;

  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({ LT_DATA_DIR: mountDir, LT_STABLE_SECONDS: '3600' }));
  });
  afterAll(async () => {
    await cleanup?.();
    execFileSync('umount', ['--lazy', mountDir], { stdio: 'ignore' });
    rmSync(mountDir, { recursive: true, force: true });
  });

  const recorded = async () =>
    (await gw.db.dataSource.query(`SELECT spool_path, sha256 FROM instance WHERE study_uid = $1`, [studyUid])) as { spool_path: string; sha256: string }[];

  test('instances that do not fit fail with 0xA700 (out of resources); what was acknowledged is whole', async () => {
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)));
    expect([202, 503]).toContain(status);
    const failed = seqItems(json, '00081198').map((i) => i['00081197']?.Value?.[0]);
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed)).toEqual(new Set([DicomReason.OutOfResources]));
    const stored = seqItems(json, '00081199').map((i) => i['00081155']?.Value?.[0]);
    const rows = await recorded();
    expect(rows).toHaveLength(stored.length);
    for (const r of rows) expect(createHash('sha256').update(readFileSync(r.spool_path)).digest('hex')).toBe(r.sha256);
    expect(readdirSync(path.join(mountDir, 'spool', '.incoming'))).toEqual([]);
  });

  test('with the disk completely full, a request that stores nothing is 503 with Retry-After (retry later, not failure)', async () => {
    // Take every byte left, as other data on a shared disk would.
    const ballast = path.join(mountDir, 'ballast');
    try {
      for (;;) appendFileSync(ballast, Buffer.alloc(16 * 1024));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    const more = phantomSeries(chestPhantom({ size: 128, slices: 3 }), { seed: 'disk-full-2' });
    const res = await postStow(`${base}/dicom-web/studies`, multipartBody(more.map((s) => s.bytes)));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  });

  test('after space is freed, the PACS re-sends and every instance is stored exactly once', async () => {
    rmSync(path.join(mountDir, 'ballast'));
    expect(mountTmpfs(mountDir, '32m', true)).toBe(true);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const { status } = await postStow(`${base}/dicom-web/studies`, multipartBody(series.map((s) => s.bytes)));
    expect(status).toBe(200);
    const rows = await recorded();
    expect(rows).toHaveLength(series.length);
    for (const r of rows) expect(createHash('sha256').update(readFileSync(r.spool_path)).digest('hex')).toBe(r.sha256);
    expect((await verifyAuditChain(gw.db.dataSource)).ok).toBe(true);
  });
});
