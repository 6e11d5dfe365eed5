/**
 * Clients that stall or vanish against a real gateway and real PostgreSQL (issue 17, items 4 and 5): a sender that
 * stops half-way gives its STOW slot back after LT_STOW_IDLE_SECONDS with what it stored kept, and a download
 * aborted by its client leaves no file descriptor behind.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { chestPhantom, phantomSeries } from '../../src/synthetic/phantom';
import { DicomReason } from '../../src/errors';
import type { Gateway } from '../../src/gateway';
import { testGateway } from '../support/gateway';
import { multipartBody, multipartType, postStow, seqItems } from '../support/stow';
import { until } from '../support/wait';

const SLOTS = 2;
const IDLE_SECONDS = 2;
const MAX_CONNECTIONS = 40;
const val = (item: Record<string, { Value?: unknown[] }>, tag: string) => item[tag]?.Value?.[0];

/** What a raw HTTP exchange ended with: the status line's code and the body (Content-Length framed). */
interface RawAnswer {
  status: number;
  body: string;
}

/**
 * Opens a STOW-RS request that announces the whole body but sends only its first `sent` bytes, then nothing:
 * a sender stalled mid-body. Resolves with the answer once the gateway closes the connection.
 */
function stalledUpload(port: number, body: Buffer, sent: number): { written: Promise<void>; answer: Promise<RawAnswer> } {
  const socket = net.connect(port, '127.0.0.1');
  const head = `POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${multipartType()}\r\nContent-Length: ${body.length}\r\n\r\n`;
  const written = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(0, sent)]), () => resolve());
  });
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), body: split < 0 ? '' : text.slice(split + 4) });
    });
  });
  return { written, answer };
}

/** Open descriptors of this process, which is also the gateway's (it runs in-process). */
const openFds = () => readdirSync('/proc/self/fd').length;

/** GETs a study over WADO-RS and hangs up as soon as the first bytes arrive: a viewer closed mid-download. */
function abortedDownload(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    socket.once('data', () => socket.destroy());
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
}

/** One request over a single kept-alive connection, so it needs no new descriptor on the gateway's side. */
function overKeptConnection(agent: http.Agent, port: number, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { ...headers, 'Content-Length': String(body.length) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('stalled and vanished clients (real gateway, real PostgreSQL)', () => {
  let gw: Gateway;
  let base: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ gw, url: base, cleanup } = await testGateway({
      LT_MAX_CONCURRENT_STOW: String(SLOTS),
      LT_STOW_IDLE_SECONDS: String(IDLE_SECONDS),
      LT_HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
    }));
  });
  afterAll(() => cleanup());

  test(`${SLOTS} senders stalled mid-body give their slots back: a normal upload then succeeds, what they stored is kept and completes its study`, async () => {
    const [a1, a2] = phantomSeries(chestPhantom({ size: 32, slices: 2 }), { seed: 'stalled-a' });
    const [b1] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'stalled-b' });
    const [normal] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'stalled-normal' });
    // Sender A: its first instance whole, then half of the second. Sender B: half of its only instance.
    const bodyA = multipartBody([a1.bytes, a2.bytes]);
    const stalledA = stalledUpload(gw.httpPort, bodyA, bodyA.indexOf(a2.bytes) + a2.bytes.length / 2);
    const bodyB = multipartBody([b1.bytes]);
    const stalledB = stalledUpload(gw.httpPort, bodyB, bodyB.length / 2);
    await Promise.all([stalledA.written, stalledB.written]);
    const recorded = async () => {
      const rows = (await gw.db.dataSource.query(`SELECT study_uid FROM instance WHERE sop_instance_uid = $1`, [a1.sopInstanceUid])) as { study_uid: string }[];
      return rows[0]?.study_uid;
    };
    const studyA = await until("sender A's first instance recorded", recorded, 30_000, 50);

    // Both slots are held now; without an idle timeout every later sender gets 503 for as long as they stall.
    const statuses: number[] = [];
    await until(
      'a normal upload accepted while the stalled senders hold the slots',
      async () => {
        const { status } = await postStow(`${base}/dicom-web/studies`, multipartBody([normal.bytes]));
        statuses.push(status);
        return status === 503 ? undefined : status;
      },
      30_000,
      250,
    );
    expect(statuses[statuses.length - 1]).toBe(200);
    expect(statuses.slice(0, -1).every((s) => s === 503)).toBe(true);

    const [answerA, answerB] = await Promise.all([stalledA.answer, stalledB.answer]);
    // A: the Store response of what it sent whole (stored), with the stall as a failure; B: nothing stored, 408.
    expect(answerA.status).toBe(202);
    const jsonA = JSON.parse(answerA.body) as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
    expect(seqItems(jsonA, '00081199').map((i) => val(i, '00081155'))).toEqual([a1.sopInstanceUid]);
    expect(seqItems(jsonA, '00081198').map((i) => val(i, '00081197'))).toEqual([DicomReason.ProcessingFailure]);
    expect(answerB.status).toBe(408);
    expect(answerB.body).toContain('sent nothing for');

    // The acknowledged instance counts: its study leaves 'receiving' after the quiet period with one instance.
    const study = await until(
      "sender A's study complete",
      async () => {
        const rows = (await gw.db.dataSource.query(`SELECT state, instance_count FROM study WHERE study_uid = $1`, [studyA])) as { state: string; instance_count: number }[];
        return rows[0]?.state === 'receiving' ? undefined : rows[0];
      },
      30_000,
    );
    expect(study.instance_count).toBe(1);
    const half = (await gw.db.dataSource.query(`SELECT count(*)::int AS n FROM instance WHERE sop_instance_uid = ANY($1)`, [[a2.sopInstanceUid, b1.sopInstanceUid]])) as { n: number }[];
    expect(half[0].n).toBe(0);
  });

  test('50 downloads aborted by their client leave no file descriptor open; /healthz stays 200', async () => {
    const slices = phantomSeries(chestPhantom({ size: 256, slices: 24 }), { seed: 'aborted-downloads' });
    const { status } = await postStow(`${base}/dicom-web/studies`, multipartBody(slices.map((s) => s.bytes)));
    expect(status).toBe(200);
    const rows = (await gw.db.dataSource.query(`SELECT study_uid FROM instance WHERE sop_instance_uid = $1`, [slices[0].sopInstanceUid])) as { study_uid: string }[];
    const path = `/dicom-web/studies/${rows[0].study_uid}`;
    // 3 MB per study: far more than the socket buffers hold, so every download is cut off mid-file.
    await abortedDownload(gw.httpPort, path);
    const before = openFds();
    for (let i = 0; i < 50; i++) await abortedDownload(gw.httpPort, path);
    // The gateway notices each hang-up shortly after it; a leak would leave about one descriptor per abort.
    const settled = await until('descriptors back to where they were', async () => (openFds() <= before + 5 ? openFds() : undefined), 20_000).catch(() => openFds());
    process.stdout.write(`open descriptors: ${before} before 50 aborted downloads, ${settled} after\n`);
    expect(settled).toBeLessThanOrEqual(before + 5);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  test('out of file descriptors (EMFILE): /healthz 503 and an upload 503 with Retry-After (not 409 / 0x0110); both recover', async () => {
    const [slice] = phantomSeries(chestPhantom({ size: 32, slices: 1 }), { seed: 'emfile' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const port = gw.httpPort;
    try {
      expect((await overKeptConnection(agent, port, 'GET', '/healthz')).status).toBe(200);
      const [soft, hard] = execFileSync('prlimit', ['--pid', String(process.pid), '--nofile', '--raw', '--noheadings', '--output', 'SOFT,HARD'], { encoding: 'utf8' }).trim().split(/\s+/);
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${openFds() + 32}:${hard}`]);
      const filler: number[] = [];
      // Take every descriptor left (the real kernel limit, lowered for this process only); again before each
      // request, since the process may have closed one meanwhile (a pool connection, a socket of an earlier test).
      const takeAll = () => {
        for (;;) {
          try {
            filler.push(openSync('/dev/null', 'r'));
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EMFILE') return;
            throw e;
          }
        }
      };
      try {
        takeAll();
        const health = await overKeptConnection(agent, port, 'GET', '/healthz');
        expect({ status: health.status, body: health.body }).toEqual({ status: 503, body: expect.stringContaining('EMFILE') });
        takeAll();
        const upload = await overKeptConnection(agent, port, 'POST', '/dicom-web/studies', multipartBody([slice.bytes]), { 'Content-Type': multipartType() });
        expect(upload.status).toBe(503);
        expect(upload.headers['retry-after']).toBeDefined();
        const failed = seqItems(JSON.parse(upload.body), '00081198');
        expect(failed.map((i) => val(i, '00081197'))).toEqual([DicomReason.OutOfResources]);
      } finally {
        for (const fd of filler) closeSync(fd);
        execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${soft}:${hard}`]);
      }
      expect((await overKeptConnection(agent, port, 'GET', '/healthz')).status).toBe(200);
      const again = await postStow(`${base}/dicom-web/studies`, multipartBody([slice.bytes]));
      expect(again.status).toBe(200);
    } finally {
      agent.destroy();
    }
  });

  test(`slowloris: 200 connections sending headers a byte at a time hold at most ${MAX_CONNECTIONS} descriptors; the gateway serves once they go`, async () => {
    const before = openFds();
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 200; i++) {
      const s = net.connect(gw.httpPort, '127.0.0.1', () => s.write('POST /dicom-web/studies HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
      s.on('error', () => undefined);
      sockets.push(s);
    }
    const trickle = setInterval(() => sockets.forEach((s) => s.writable && s.write('a')), 200);
    try {
      await until('every connection accepted or refused', async () => (sockets.every((s) => s.readyState !== 'opening') ? true : undefined), 20_000, 50);
      await new Promise((r) => setTimeout(r, 500));
      // Ours (the test side of each socket) plus the gateway's: the gateway keeps at most MAX_CONNECTIONS.
      const open = sockets.filter((s) => !s.destroyed).length;
      const held = openFds() - before - open;
      process.stdout.write(`slowloris: 200 connections, ${open} still open, gateway holds ${held} descriptors for them\n`);
      expect(held).toBeLessThanOrEqual(MAX_CONNECTIONS + 5);
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
    await until('the gateway answers again', async () => ((await fetch(`${base}/healthz`).then((r) => r.status, () => 0)) === 200 ? true : undefined), 20_000);
  });
});
