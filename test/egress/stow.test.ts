import { decodeStoreResponse } from '../../src/dicom/store-response';
import { backoffMs, classifyStowAnswer, retryAfterMs } from '../../src/egress';

const sent = ['1.2.1', '1.2.2', '1.2.3'].map((u) => ({ sopInstanceUid: u, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', bytes: Buffer.alloc(0) }));
const ref = (u: string) => ({ '00081155': { vr: 'UI', Value: [u] } });
const fail = (u: string, reason: number) => ({ '00081155': { vr: 'UI', Value: [u] }, '00081197': { vr: 'US', Value: [reason] } });

test('parses a Store Instances Response in DICOM JSON (string, object or array form)', () => {
  const body = { '00081199': { vr: 'SQ', Value: [ref('1.2.1')] }, '00081198': { vr: 'SQ', Value: [fail('1.2.2', 0xa700)] } };
  for (const b of [body, JSON.stringify(body), [body]]) {
    expect(decodeStoreResponse(b)).toEqual({ referenced: [{ sopInstanceUid: '1.2.1' }], failed: [{ sopInstanceUid: '1.2.2', failureReason: 0xa700 }] });
  }
  expect(decodeStoreResponse('<html>busy</html>')).toBeUndefined();
  expect(decodeStoreResponse('')).toBeUndefined();
});

test('202: referenced stored, transient failures retried, permanent failed, unmentioned retried', () => {
  const body = { '00081199': { vr: 'SQ', Value: [ref('1.2.1')] }, '00081198': { vr: 'SQ', Value: [fail('1.2.2', 0xa700)] } };
  expect(classifyStowAnswer(202, body, sent).map((o) => o.result)).toEqual(['stored', 'retry', 'retry']);
  const perm = { '00081198': { vr: 'SQ', Value: [fail('1.2.1', 0xa900), fail('1.2.2', 0xc000), fail('1.2.3', 0x0110)] } };
  expect(classifyStowAnswer(409, perm, sent).map((o) => o.result)).toEqual(['failed', 'failed', 'failed']);
  expect(classifyStowAnswer(202, perm, sent).map((o) => o.result)).toEqual(['failed', 'failed', 'retry']);
  expect(classifyStowAnswer(409, { '00081198': { vr: 'SQ', Value: [fail('1.2.1', 0xa702)] } }, sent)[0].result).toBe('retry');
});

test('an "already exists" failure (0xB00E, dicom-server 45070) counts as stored: same UID, same result', () => {
  const body = { '00081198': { vr: 'SQ', Value: [fail('1.2.1', 45070)] }, '00081199': { vr: 'SQ', Value: [ref('1.2.2'), ref('1.2.3')] } };
  expect(classifyStowAnswer(409, body, sent).map((o) => o.result)).toEqual(['stored', 'stored', 'stored']);
});

test('whole-request statuses', () => {
  const all = (status: number, body?: unknown) => [...new Set(classifyStowAnswer(status, body, sent).map((o) => o.result))];
  expect(all(200, '')).toEqual(['stored']);
  for (const s of [0, 401, 408, 429, 500, 502, 503, 504]) expect(all(s)).toEqual(['retry']);
  for (const s of [400, 404, 413, 415]) expect(all(s)).toEqual(['failed']);
  expect(all(409, '')).toEqual(['failed']); // Orthanc: study UID mismatch, no body
});

test('backoff doubles with equal jitter, is capped, and respects Retry-After', () => {
  const o = { baseDelayMs: 1000, maxDelayMs: 8000 };
  expect(backoffMs(1, { ...o, random: () => 0 })).toBe(500);
  expect(backoffMs(1, { ...o, random: () => 1 })).toBe(1000);
  expect(backoffMs(3, { ...o, random: () => 1 })).toBe(4000);
  expect(backoffMs(10, { ...o, random: () => 1 })).toBe(8000);
  expect(backoffMs(1, { ...o, random: () => 0 }, 30000)).toBe(30000);
  expect(retryAfterMs('120')).toBe(120000);
  expect(retryAfterMs(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
  expect(retryAfterMs('soon')).toBeUndefined();
});
