/**
 * Per-source limits against a real gateway and real PostgreSQL (issue 17): instances per study, and requests per
 * second per caller on STOW-RS, WADO-RS, TriageService and DIMSE C-STORE (dcmtk's storescu as the peer).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { DicomReason } from '../../src/errors';
import type { Gateway } from '../../src/gateway';
import type { ProtoGrpcType } from '../../src/generated/triage';
import type { TriageServiceClient } from '../../src/generated/lungtriage/triage/v1/TriageService';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/grpc/loader';
import { testGateway } from '../support/gateway';
import { multipartBody, postStow, seqItems } from '../support/stow';
import { tempDir } from '../support/temp-dir';

const val = (item: Record<string, { Value?: unknown[] }>, tag: string) => item[tag]?.Value?.[0];
const basic = (user: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:pw-${user}`).toString('base64')}` });
/** Refilling one request in 1000 s: within a test, a caller has exactly its burst. */
const BURST = 4;

function storescu(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('storescu', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', () => resolve(out));
  });
}

describe('per-source limits (real gateway, real PostgreSQL)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({
      LT_MAX_INSTANCES_PER_STUDY: '3',
      LT_RATE_LIMIT_PER_SECOND: '0.001',
      LT_RATE_LIMIT_BURST: String(BURST),
      LT_AUTH_BASIC_USERS: ['alice', 'bob', 'carol'].map((u) => `[sender+reader]${u}:pw-${u}`).join(','),
      LT_GRPC_AUTH_TOKENS: 'grpc-token,grpc-token-2',
      LT_DIMSE_PORT: '0',
    }));
  });
  afterAll(() => cleanup());

  test('instances per study: the ones over the cap get 0xA700 each, what was accepted stays, a re-send of it is idempotent', async () => {
    const studyUid = '2.25.1733300000000170001';
    const slices = phantomSeries(chestPhantom({ size: 32, slices: 5 }), { seed: 'limit-per-study', studyUid });
    const { status, json } = await postStow(`${base}/dicom-web/studies`, multipartBody(slices.map((s) => s.bytes)), basic('alice'));
    expect(status).toBe(202);
    // Parts finish concurrently: which three get in is not fixed, but three do and each other one is named.
    const stored = seqItems(json, '00081199').map((i) => val(i, '00081155') as string);
    const failed = seqItems(json, '00081198');
    expect(stored).toHaveLength(3);
    expect(failed.map((i) => val(i, '00081197'))).toEqual([DicomReason.OutOfResources, DicomReason.OutOfResources]);
    expect([...stored, ...failed.map((i) => val(i, '00081155') as string)].sort()).toEqual(slices.map((s) => s.sopInstanceUid).sort());
    const accepted = slices.filter((s) => stored.includes(s.sopInstanceUid));
    const again = await postStow(`${base}/dicom-web/studies`, multipartBody(accepted.map((s) => s.bytes)), basic('alice'));
    expect(again.status).toBe(200);
    const rows = (await gw.db.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE study_uid = $1`, [studyUid])) as { sop_instance_uid: string }[];
    expect(rows.map((r) => r.sop_instance_uid).sort()).toEqual([...stored].sort());
    const [study] = (await gw.db.dataSource.query(`SELECT instance_count FROM study WHERE study_uid = $1`, [studyUid])) as { instance_count: number }[];
    expect(study.instance_count).toBe(3);
  });

  test('requests per second per caller on STOW-RS and WADO-RS: 429 with Retry-After past the burst, other callers unaffected', async () => {
    const studyUid = '2.25.1733300000000170002';
    const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'limit-rate', studyUid });
    const statuses: number[] = [];
    for (let i = 0; i < BURST - 1; i++) statuses.push((await postStow(`${base}/dicom-web/studies`, multipartBody([slice.bytes]), basic('bob'))).status);
    const wado = await fetch(`${base}/dicom-web/studies/${studyUid}`, { headers: basic('bob') });
    await wado.arrayBuffer();
    statuses.push(wado.status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const limitedStow = await postStow(`${base}/dicom-web/studies`, multipartBody([slice.bytes]), basic('bob'));
    expect(limitedStow.status).toBe(429);
    expect(Number(limitedStow.headers.get('retry-after'))).toBeGreaterThan(0);
    const limitedWado = await fetch(`${base}/dicom-web/studies/${studyUid}`, { headers: basic('bob') });
    expect(limitedWado.status).toBe(429);
    expect(Number(limitedWado.headers.get('retry-after'))).toBeGreaterThan(0);
    // Carol is another identity: her bucket is her own.
    expect((await postStow(`${base}/dicom-web/studies`, multipartBody([slice.bytes]), basic('carol'))).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/lt_rate_limited_total\{surface="dicomweb"\} 2/);
  });

  test('TriageService: RESOURCE_EXHAUSTED past the burst, another token unaffected', async () => {
    const proto = (grpc.loadPackageDefinition(protoLoader.loadSync('lungtriage/triage/v1/triage.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] })) as unknown as ProtoGrpcType)
      .lungtriage.triage.v1;
    const client = new proto.TriageService(`127.0.0.1:${gw.grpcPort}`, grpc.credentials.createInsecure()) as unknown as TriageServiceClient;
    const call = (token: string) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      return new Promise<number>((resolve) => client.listStudies({ pageSize: 1 }, md, (e) => resolve(e?.code ?? grpc.status.OK)));
    };
    const codes: number[] = [];
    for (let i = 0; i < BURST + 1; i++) codes.push(await call('grpc-token'));
    expect(codes).toEqual([...Array<number>(BURST).fill(grpc.status.OK), grpc.status.RESOURCE_EXHAUSTED]);
    // Each static token is its own caller.
    expect(await call('grpc-token-2')).toBe(grpc.status.OK);
    client.close();
  });

  test('DIMSE: C-STOREs past the burst are refused 0xA700 (Out of Resources) and not recorded', async () => {
    const dir = tempDir('limits-dimse');
    // One study each, so the cap of 3 per study is not what refuses them.
    const slices = Array.from({ length: BURST + 1 }, (_, i) => phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: `limit-dimse-${i}` })[0]);
    const files = slices.map((s, i) => {
      const f = path.join(dir, `${i}.dcm`);
      writeFileSync(f, s.bytes);
      return f;
    });
    const out = await storescu(['-v', '-aet', 'STORESCU', '-aec', 'LUNG_TRIAGE', '127.0.0.1', String(gw.dimsePort), ...files.slice(0, 3)]);
    expect(out.match(/Received Store Response \(Success\)/g)).toHaveLength(3);
    const second = await storescu(['-v', '-aet', 'STORESCU', '-aec', 'LUNG_TRIAGE', '127.0.0.1', String(gw.dimsePort), ...files.slice(3)]);
    expect(second.match(/Received Store Response \(Success\)/g)).toHaveLength(BURST - 3);
    expect(second.match(/Received Store Response \(Refused: OutOfResources\)/g)).toHaveLength(1);
    const rows = (await gw.db.dataSource.query(`SELECT sop_instance_uid FROM instance WHERE sop_instance_uid = ANY($1)`, [slices.map((s) => s.sopInstanceUid)])) as unknown[];
    expect(rows).toHaveLength(BURST);
  });
});
