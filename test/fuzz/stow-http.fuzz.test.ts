/**
 * Mutation fuzzing through the real STOW-RS handler (real gateway, real PostgreSQL): mutated multipart bodies whose
 * parts are mutated DICOM files. Every answer must be one of the documented statuses (never 500), each instance the
 * answer calls stored must be recorded with its intact spool file, and the gateway must stay ready. Bounded: 300
 * requests or 25 s, deterministic seed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Gateway } from '../../src/gateway';
import { testGateway } from '../support/gateway';
import { multipartBody, multipartType } from '../support/stow';
import { mutate, rng, scanElements } from './harness';
import { dicomSeeds } from './seeds';

const seeds = dicomSeeds();
const scans = seeds.map((s) => scanElements(s.bytes));

describe('fuzz: STOW-RS handler over HTTP (real gateway)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({ LT_MAX_BODY_BYTES: String(2 * 1024 * 1024), LT_MAX_INSTANCE_BYTES: String(512 * 1024), LT_STABLE_SECONDS: '3600' }));
  });
  afterAll(() => cleanup());

  test('300 mutated requests (or 25 s): documented statuses only, acknowledged instances intact, gateway ready', async () => {
    const r = rng(0x57011);
    const statuses: Record<string, number> = {};
    const acked = new Set<string>();
    const t0 = Date.now();
    let n = 0;
    for (; n < 300 && Date.now() - t0 < 25_000; n++) {
      const parts = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
        const i = Math.floor(r() * seeds.length);
        return r() < 0.3 ? seeds[i].bytes : mutate(seeds[i].bytes, [], r, scans[i].all, scans[i].numeric);
      });
      let body = multipartBody(parts);
      if (r() < 0.4) body = mutate(body, [], r);
      const res = await fetch(`${base}/dicom-web/studies`, { method: 'POST', headers: { 'Content-Type': multipartType() }, body });
      const text = await res.text();
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      expect([n, [200, 202, 400, 409, 413, 415].includes(res.status)]).toEqual([n, true]);
      if (res.status === 200 || res.status === 202 || res.status === 409) {
        const json = JSON.parse(text) as Record<string, { Value?: Record<string, { Value?: string[] }>[] }>;
        for (const item of json['00081199']?.Value ?? []) acked.add(item['00081155']!.Value![0]);
      }
    }
    process.stdout.write(`stow over HTTP: ${n} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s, statuses ${JSON.stringify(statuses)}, ${acked.size} instances acknowledged\n`);
    expect(n).toBeGreaterThanOrEqual(50);
    const rows = (await gw.db.dataSource.query(`SELECT sop_instance_uid, spool_path, sha256 FROM instance WHERE sop_instance_uid = ANY($1)`, [[...acked]])) as {
      sop_instance_uid: string;
      spool_path: string;
      sha256: string;
    }[];
    expect(rows.length).toBe(acked.size);
    for (const row of rows) expect(createHash('sha256').update(readFileSync(row.spool_path)).digest('hex')).toBe(row.sha256);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  }, 90_000);
});
