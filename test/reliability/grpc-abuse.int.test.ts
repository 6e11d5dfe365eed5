/**
 * gRPC abuse (issue 8, item 4) against the real TriageService (real PostgreSQL) and the real inference worker (the
 * real models from models/). The client speaks raw bytes (hand-encoded protobuf), so it can send what no generated
 * client would: messages over the size limits, garbage, fields of the wrong wire type, a stream that never ends, and
 * a client process killed with SIGKILL in the middle of a stream.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Authenticator } from '../../src/api/authenticator';
import { startTriageServer } from '../../src/api/triage-service';
import { InferenceEngine } from '../../src/inference/engine';
import { MAX_CHUNK_BYTES } from '../../src/inference/proto';
import { startWorker, type WorkerHandle } from '../../src/inference/worker';
import { PACKAGE_ROOT } from '../../src/paths';
import { testDatabase } from '../support/db';
import { TEST_MODELS_DIR } from '../support/models';
import { until } from '../support/wait';

// ---- hand-made protobuf -------------------------------------------------------------------------------------------
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const fVarint = (field: number, n: number) => Buffer.concat([key(field, 0), varint(n)]);
const fBytes = (field: number, b: Buffer | string) => {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([key(field, 2), varint(buf.length), buf]);
};
const fDouble = (field: number, x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return Buffer.concat([key(field, 1), b]);
};
function packedDoubles(field: number, xs: number[]): Buffer {
  const b = Buffer.alloc(8 * xs.length);
  xs.forEach((x, i) => b.writeDoubleLE(x, 8 * i));
  return fBytes(field, b);
}

const ROWS = 64;
const SLICES = 2;
const volumeHeader = (over: Partial<{ rows: number; slices: number }> = {}) =>
  fBytes(
    1,
    Buffer.concat([
      fBytes(1, 'abuse-study'),
      fVarint(3, over.rows ?? ROWS),
      fVarint(4, ROWS),
      fVarint(5, over.slices ?? SLICES),
      fDouble(6, 0.7),
      fDouble(7, 0.7),
      packedDoubles(8, Array.from({ length: over.slices ?? SLICES }, (_, i) => i)),
      fBytes(9, 'abuse-hash'),
    ]),
  );
const volumeChunk = (firstVoxel: number, hu: Buffer) => fBytes(2, Buffer.concat([fVarint(1, firstVoxel), fBytes(2, hu)]));

const raw = (b: Buffer) => b;
type Outcome = { code: number; details: string; ms: number };

/** A client-streaming call with raw bytes; resolves with the final status (OK = 0). */
function clientStream(addr: string, method: string, messages: Buffer[], opts: { end?: boolean; deadlineMs?: number } = {}): Promise<Outcome> {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const t0 = Date.now();
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(method, raw, raw, new grpc.Metadata(), { deadline: Date.now() + (opts.deadlineMs ?? 20_000) }, (err) => {
      client.close();
      resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '', ms: Date.now() - t0 });
    });
    call.on('error', () => undefined);
    for (const m of messages) call.write(m);
    if (opts.end !== false) call.end();
  });
}

function unary(addr: string, method: string, message: Buffer, metadata = new grpc.Metadata()): Promise<Outcome> {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  const t0 = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, raw, raw, message, metadata, { deadline: Date.now() + 10_000 }, (err) => {
      client.close();
      resolve({ code: err?.code ?? grpc.status.OK, details: err?.details ?? '', ms: Date.now() - t0 });
    });
  });
}

const S = grpc.status;
const HAVE_MODELS = existsSync(path.join(TEST_MODELS_DIR, 'manifest.json'));

describe('TriageService under abuse (real server, real PostgreSQL)', () => {
  let t: Awaited<ReturnType<typeof testDatabase>>;
  let server: { port: number; close(): Promise<void> };
  let addr: string;
  const M = (m: string) => `/lungtriage.triage.v1.TriageService/${m}`;

  beforeAll(async () => {
    t = await testDatabase();
    server = await startTriageServer({ dataSource: t.db.dataSource, auth: new Authenticator({}), pollMs: 100 }, { host: '127.0.0.1', port: 0 });
    addr = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server?.close();
    await t?.cleanup();
  });

  const alive = async () => {
    // A well-formed request still gets its typed answer: the server survived.
    expect((await unary(addr, M('GetStudy'), fBytes(1, '1.2.3.4'))).code).toBe(S.NOT_FOUND);
  };

  test('a request over the 1 MiB limit is RESOURCE_EXHAUSTED (and one just under it is judged on its content)', async () => {
    const over = await unary(addr, M('GetStudy'), fBytes(1, '1.' + '2'.repeat(2 * 1024 * 1024)));
    expect(over.code).toBe(S.RESOURCE_EXHAUSTED);
    const under = await unary(addr, M('GetStudy'), fBytes(1, '1.' + '2'.repeat(1000 * 1024)));
    expect(under.code).toBe(S.INVALID_ARGUMENT); // a 1 MB "UID" is not a UID
    await alive();
  });

  test('garbage bytes and fields of the wrong wire type get an error status, never a crash', async () => {
    const inputs = [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
      Buffer.from('not a protobuf at all, just text'),
      Buffer.concat([key(1, 2), varint(1_000_000)]), // length past the end
      fVarint(1, 42), // study_instance_uid sent as a number
      fDouble(1, 1.5),
      Buffer.concat([key(1, 3)]), // deprecated group start, no end
      Buffer.from([0x0a, 0x02, 0xc3, 0x28]), // invalid UTF-8 in a string
    ];
    for (const b of inputs) {
      const o = await unary(addr, M('GetStudy'), b);
      expect([b.toString('hex').slice(0, 40), o.code]).not.toEqual([b.toString('hex').slice(0, 40), S.OK]);
      expect(o.code).not.toBe(S.UNAVAILABLE); // the server did not go away
    }
    for (const m of ['ListStudies', 'GetAuditTrail', 'SubmitStudy', 'VerifyAudit']) {
      const o = await unary(addr, M(m), Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
      expect(o.code).not.toBe(S.UNAVAILABLE);
    }
    await alive();
  });

  test('oversized metadata is refused, not fatal', async () => {
    const md = new grpc.Metadata();
    md.set('x-junk', 'a'.repeat(64 * 1024));
    const o = await unary(addr, M('GetStudy'), fBytes(1, '1.2.3.4'), md);
    expect(o.code).not.toBe(S.OK);
    await alive();
  });

  test('a WatchEvents stream ends at its deadline, and a client that cancels leaves the server serving', async () => {
    const client = new grpc.Client(addr, grpc.credentials.createInsecure());
    const t0 = Date.now();
    const code = await new Promise<number>((resolve) => {
      const call = client.makeServerStreamRequest(M('WatchEvents'), raw, raw, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 1500 });
      call.on('data', () => undefined);
      call.on('error', (e: grpc.ServiceError) => resolve(e.code));
      call.on('end', () => resolve(S.OK));
    });
    expect(code).toBe(S.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(5000);
    for (let i = 0; i < 10; i++) {
      const call = client.makeServerStreamRequest(M('WatchEvents'), raw, raw, Buffer.alloc(0), new grpc.Metadata(), {});
      call.on('error', () => undefined);
      await new Promise((r) => setTimeout(r, 50));
      call.cancel();
    }
    client.close();
    await alive();
  });
});

(HAVE_MODELS ? describe : describe.skip)('inference worker under abuse (real worker, real models)', () => {
  let engine: InferenceEngine;
  let worker: WorkerHandle;
  let addr: string;
  const ANALYZE = '/lungtriage.inference.v1.InferenceService/Analyze';
  const plane = ROWS * ROWS;

  beforeAll(async () => {
    engine = await InferenceEngine.load({ modelsDir: TEST_MODELS_DIR, executionProvider: 'cpu', threads: 1 });
    worker = await startWorker({ modelsDir: TEST_MODELS_DIR, port: 0, engine, maxConcurrent: 1, maxSlices: 64 });
    addr = `127.0.0.1:${worker.port}`;
  });
  afterAll(async () => {
    await worker?.close({ force: true });
    await engine?.close();
  });

  const settled = async () => {
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 15_000, 20);
    const ok = await unary(addr, '/lungtriage.inference.v1.InferenceService/ListModels', Buffer.alloc(0));
    expect(ok.code).toBe(S.OK);
  };

  test('a message over the 4 MiB transport limit is RESOURCE_EXHAUSTED; the slot is freed', async () => {
    const o = await clientStream(addr, ANALYZE, [volumeHeader(), volumeChunk(0, Buffer.alloc(5 * 1024 * 1024))]);
    expect(o.code).toBe(S.RESOURCE_EXHAUSTED);
    await settled();
  });

  test('a chunk under the transport limit but over the 1 MiB contract limit is INVALID_ARGUMENT', async () => {
    const o = await clientStream(addr, ANALYZE, [volumeHeader({ rows: 1024, slices: 2 }), volumeChunk(0, Buffer.alloc(MAX_CHUNK_BYTES + 2))]);
    expect(o.code).toBe(S.INVALID_ARGUMENT);
    expect(o.details).toMatch(/more than the 1048576-byte limit|columns|slice|header/);
    await settled();
  });

  test('garbage, wrong wire types and contract violations get an error status, never a crash', async () => {
    const cases: [string, Buffer[]][] = [
      ['garbage first message', [Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]],
      ['text', [Buffer.from('GET / HTTP/1.1\r\n\r\n')]],
      ['rows as a string', [fBytes(1, Buffer.concat([fBytes(3, '64'), fVarint(4, 64), fVarint(5, 1)]))]],
      ['header as a number', [fVarint(1, 7)]],
      ['chunk before header', [volumeChunk(0, Buffer.alloc(plane * 2))]],
      ['two headers', [volumeHeader(), volumeHeader()]],
      ['odd bytes', [volumeHeader(), volumeChunk(0, Buffer.alloc(3))]],
      ['gap in voxels', [volumeHeader(), volumeChunk(5, Buffer.alloc(plane * 2))]],
      ['too much data', [volumeHeader(), volumeChunk(0, Buffer.alloc(plane * 2 * SLICES + 2))]],
      ['too little data', [volumeHeader(), volumeChunk(0, Buffer.alloc(plane * 2))]],
      ['huge dimensions', [volumeHeader({ rows: 0xffffffff })]],
      ['slices over the limit', [volumeHeader({ slices: 100_000 })]],
      ['empty stream', []],
    ];
    for (const [name, msgs] of cases) {
      const o = await clientStream(addr, ANALYZE, msgs);
      expect([name, o.code === S.OK, o.code === S.UNAVAILABLE]).toEqual([name, false, false]);
      await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 15_000, 20);
    }
    await settled();
  });

  test('a client stream that never ends hits its deadline, and the slot is freed', async () => {
    const o = await clientStream(addr, ANALYZE, [volumeHeader(), volumeChunk(0, Buffer.alloc(plane * 2))], { end: false, deadlineMs: 1500 });
    expect(o.code).toBe(S.DEADLINE_EXCEEDED);
    expect(o.ms).toBeLessThan(6000);
    await settled();
  });

  test('a client process killed with SIGKILL mid-stream frees its slot; the next call is admitted', async () => {
    // The child speaks the real contract (proto-loader), sends the header and one slice of two, then waits to die.
    const script = `
      const grpc = require('@grpc/grpc-js');
      const loader = require('@grpc/proto-loader');
      const def = loader.loadSync('lungtriage/inference/v1/inference.proto', { includeDirs: ['proto'], keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
      const svc = grpc.loadPackageDefinition(def).lungtriage.inference.v1.InferenceService;
      const c = new svc(process.argv[1], grpc.credentials.createInsecure());
      const call = c.analyze({ deadline: Date.now() + 120000 }, () => {});
      call.write({ header: { studyId: 'vanishing', rows: ${ROWS}, columns: ${ROWS}, slices: ${SLICES}, rowSpacingMm: 0.7, columnSpacingMm: 0.7, slicePositionsMm: [0, 1], contentHash: 'v' } });
      call.write({ chunk: { firstVoxel: 0, hu: Buffer.alloc(${plane * 2}) } }, () => process.stdout.write('sent\\n'));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['-e', script, addr], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('sent') && resolve());
        child.on('exit', (c) => reject(new Error(`client exited early (${c})`)));
      });
      await until('one call in flight', () => worker.activeCalls() === 1 || undefined, 15_000, 20);
      // Busy: a second caller is told so at once.
      const busy = await clientStream(addr, ANALYZE, [volumeHeader()]);
      expect(busy.code).toBe(S.RESOURCE_EXHAUSTED);
    } finally {
      child.kill('SIGKILL');
    }
    const t0 = Date.now();
    await until('no call in flight', () => worker.activeCalls() === 0 || undefined, 20_000, 20);
    const freedMs = Date.now() - t0;
    expect(freedMs).toBeLessThan(20_000);
    // The next caller gets the slot (a contract error from its content, not RESOURCE_EXHAUSTED).
    const next = await clientStream(addr, ANALYZE, [volumeHeader(), volumeChunk(0, Buffer.alloc(3))]);
    expect(next.code).toBe(S.INVALID_ARGUMENT);
    await settled();
  });
});
