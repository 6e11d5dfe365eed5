/**
 * Bounded, deterministic mutation fuzzing. Each input runs in a worker thread (harness-worker.js) under a per-call
 * time box (a hang is stopped by terminating the worker) and a heap limit (an allocation blow-up kills the worker,
 * not the test process). Only LtError (or success) is an acceptable outcome: any other throw is a crash; a crash is
 * minimised and reported as hex, ready to become a regression fixture.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { tempDir } from '../support/temp-dir';

export type Target = 'multipart' | 'contentType' | 'walk' | 'instanceInfo' | 'volume';
export type Outcome = { kind: 'ok' | 'lt' | 'rejected' | 'crash' | 'hang' | 'oom'; ms: number; name?: string; message?: string; stack?: string };

/** mulberry32: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One worker, restarted after a hang or a heap blow-up. */
export class Sandbox {
  private worker?: Worker;
  private nextId = 0;
  private pending = new Map<number, (o: Outcome) => void>();
  restarts = 0;
  /** Scratch folder for the file-based targets, removed by close(). */
  private readonly tmp = tempDir('fuzz');

  constructor(private readonly heapMb = 192) {}

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(path.join(__dirname, 'harness-worker.js'), {
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 32 },
      workerData: { tmp: this.tmp },
      stdout: true,
      stderr: true,
    });
    w.on('message', (m: Outcome & { id: number }) => {
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.(m);
    });
    w.on('error', (e: Error) => this.failAll({ kind: (e as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'oom' : 'crash', ms: 0, message: `worker died: ${e.message}` }));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      this.failAll({ kind: 'crash', ms: 0, message: 'worker exited' });
    });
    this.worker = w;
    return w;
  }

  private failAll(o: Outcome): void {
    for (const [id, done] of this.pending) {
      this.pending.delete(id);
      done(o);
    }
  }

  /** Runs one input; resolves with its outcome (never rejects). */
  run(target: Target, bytes: Buffer, meta: Record<string, unknown> = {}, timeoutMs = 3000): Promise<Outcome> {
    const w = this.ensure();
    const id = this.nextId++;
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.restarts++;
        this.worker = undefined;
        void w.terminate();
        resolve({ kind: 'hang', ms: timeoutMs, message: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(id, (o) => {
        clearTimeout(timer);
        if (o.kind === 'oom' || (o.kind === 'crash' && o.message?.startsWith('worker'))) this.restarts++;
        resolve(o);
      });
      w.postMessage({ id, target, bytes: new Uint8Array(bytes), meta });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x2d, 0x0d, 0x0a, 0x20, 0x5c];
const INTERESTING_32 = [0, 1, 2, 3, 4, 7, 8, 0x7f, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff];

/**
 * Offsets of element headers in a Part 10 file (explicit VR little endian walk from byte 132, descending into
 * nothing): where length, VR and tag mutations hurt most. Best effort: stops where the walk stops making sense.
 */
export function elementOffsets(buf: Buffer): number[] {
  return scanElements(buf).all;
}

/** Element header offsets, and those of numeric elements (IS, DS, US, UL, SS, SL) as [offset, VR, length]. */
export function scanElements(buf: Buffer): { all: number[]; numeric: [number, string, number][] } {
  const out: number[] = [];
  const numeric: [number, string, number][] = [];
  let pos = 132;
  const long = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
  while (pos + 8 <= buf.length && out.length < 400) {
    out.push(pos);
    const vr = buf.toString('latin1', pos + 4, pos + 6);
    if (!/^[A-Z]{2}$/.test(vr)) break;
    const isLong = long.has(vr);
    if (isLong && pos + 12 > buf.length) break;
    const len = isLong ? buf.readUInt32LE(pos + 8) : buf.readUInt16LE(pos + 6);
    if (len === 0xffffffff) break;
    if (['IS', 'DS', 'US', 'UL', 'SS', 'SL'].includes(vr) && len > 0) numeric.push([pos, vr, len]);
    pos += (isLong ? 12 : 8) + len;
  }
  return { all: out, numeric };
}

/** Overwrites a numeric element's value, same length, with an extreme (huge, negative, zero, not a number). */
function extremeValue(b: Buffer, [o, vr, len]: [number, string, number], r: () => number): void {
  if (o + 8 + len > b.length) return;
  const v = o + 8;
  const k = Math.floor(r() * 4);
  if (vr === 'IS' || vr === 'DS') {
    const text = [`${'9'.repeat(len)}`, `-${'9'.repeat(len - 1)}`, '0'.repeat(len), (vr === 'DS' ? '1e308' : 'x').padEnd(len, ' ')][k].slice(0, len);
    b.write(text, v, 'latin1');
  } else if (vr === 'US' || vr === 'SS') b.writeUInt16LE([0xffff, 0x8000, 0, 0x7fff][k], v);
  else if (len >= 4) b.writeUInt32LE([0xffffffff, 0x80000000, 0, 0x7fffffff][k], v);
}

/** One to four stacked mutations of a seed (some aware of DICOM element headers, some of multipart lines). */
export function mutate(seed: Buffer, others: Buffer[], r: () => number, offsets: number[] = [], numeric: [number, string, number][] = []): Buffer {
  let b = Buffer.from(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
  const at = (len = b.length) => Math.floor(r() * Math.max(1, len));
  const n = 1 + Math.floor(r() * r() * 4);
  for (let k = 0; k < n; k++) {
    const op = Math.floor(r() * 12);
    if (b.length === 0 && op !== 6) continue;
    switch (op) {
      case 0: // bit flips
        for (let i = 0, m = 1 + Math.floor(r() * 8); i < m; i++) b[at()] ^= 1 << Math.floor(r() * 8);
        break;
      case 1:
        b[at()] = pick(INTERESTING_8);
        break;
      case 2: {
        const o = at(b.length - 1);
        if (o + 2 <= b.length) b.writeUInt16LE(pick(INTERESTING_32) & 0xffff, o);
        break;
      }
      case 3: {
        const o = at(b.length - 3);
        if (o + 4 <= b.length) (r() < 0.5 ? b.writeUInt32LE.bind(b) : b.writeUInt32BE.bind(b))(pick(INTERESTING_32) >>> 0, o);
        break;
      }
      case 4: // truncate
        b = b.subarray(0, at());
        break;
      case 5: {
        // delete a range
        const s = at();
        const e = Math.min(b.length, s + 1 + Math.floor(r() * 64));
        b = Buffer.concat([b.subarray(0, s), b.subarray(e)]);
        break;
      }
      case 6: {
        // insert random bytes or a copy of a range
        const s = at(b.length + 1);
        const ins = r() < 0.5 ? Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256))) : b.subarray(at(), at() + Math.floor(r() * 256));
        b = Buffer.concat([b.subarray(0, s), ins, b.subarray(s)]);
        break;
      }
      case 7: // splice with another seed
        if (others.length) {
          const o = pick(others);
          b = Buffer.concat([b.subarray(0, at()), o.subarray(at(o.length))]);
        }
        break;
      default: {
        // element-aware: a length field, the VR, the tag, or the value's first bytes
        if (numeric.length > 0 && r() < 0.4) {
          extremeValue(b, pick(numeric), r);
          break;
        }
        if (offsets.length === 0) {
          b[at()] = Math.floor(r() * 256);
          break;
        }
        const o = pick(offsets);
        if (o + 12 > b.length) break;
        const what = Math.floor(r() * 5);
        if (what === 0) b.writeUInt16LE(pick(INTERESTING_32) & 0xffff, o + 6);
        else if (what === 1) b.writeUInt32LE(pick(INTERESTING_32) >>> 0, o + 8);
        else if (what === 2) b.write(pick(['SQ', 'UN', 'OB', 'OW', 'US', 'UL', 'FD', 'DS', 'IS', 'xx', '\0\0', 'UT']), o + 4, 'latin1');
        else if (what === 3) b.writeUInt32LE(pick([0x7fe00010, 0xe000fffe, 0xe00dfffe, 0xe0ddfffe, 0x00100002, 0x00080028, 0x52009229, 0x00280010, 0x00020010]), o);
        else b.write(pick(['999999999', '-1', '0', '65535', '1e308', 'NaN', '4294967296', '2147483648']), o + 8, 'latin1');
      }
    }
  }
  return b;
}

/** Shrinks a crashing input while it still crashes the same way (bounded number of tries). */
export async function minimise(sb: Sandbox, target: Target, input: Buffer, meta: Record<string, unknown>, sameAs: Outcome, tries = 300): Promise<Buffer> {
  const same = (o: Outcome) => o.kind === sameAs.kind && (o.name ?? '') === (sameAs.name ?? '');
  let best = input;
  let chunk = Math.max(1, Math.floor(best.length / 2));
  while (tries > 0 && chunk >= 1) {
    let progressed = false;
    for (let s = 0; s < best.length && tries > 0; s += chunk) {
      tries--;
      const cand = Buffer.concat([best.subarray(0, s), best.subarray(s + chunk)]);
      if (same(await sb.run(target, cand, meta))) {
        best = cand;
        progressed = true;
      }
    }
    if (!progressed) chunk = Math.floor(chunk / 2);
  }
  return best;
}

export interface FamilyReport {
  family: string;
  inputs: number;
  outcomes: Record<string, number>;
  crashes: { outcome: Outcome; hex: string; bytes: number }[];
  maxMs: number;
  seconds: number;
  rssGrowthMb: number;
  restarts: number;
}

/**
 * Runs up to maxInputs mutated inputs (or until budgetMs), all derived from `seed` so a run is reproducible.
 * Returns counts by outcome and the minimised crashes (at most 5 kept).
 */
export async function fuzzFamily(opts: {
  family: string;
  target: Target;
  seeds: { bytes: Buffer; meta?: Record<string, unknown> }[];
  seed: number;
  maxInputs: number;
  budgetMs: number;
  timeoutMs?: number;
  elementAware?: boolean;
}): Promise<FamilyReport> {
  const sb = new Sandbox();
  const r = rng(opts.seed);
  const scans = opts.seeds.map((s) => (opts.elementAware ? scanElements(s.bytes) : { all: [], numeric: [] }));
  const all = opts.seeds.map((s) => s.bytes);
  const outcomes: Record<string, number> = {};
  const crashes: FamilyReport['crashes'] = [];
  const t0 = Date.now();
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  let maxMs = 0;
  let inputs = 0;
  try {
    // The seeds themselves first: they must pass (or be refused cleanly), or the mutations mean little.
    for (let i = 0; inputs < opts.maxInputs && Date.now() - t0 < opts.budgetMs; i++) {
      const si = i < opts.seeds.length ? i : Math.floor(r() * opts.seeds.length);
      const input = i < opts.seeds.length ? opts.seeds[si].bytes : mutate(opts.seeds[si].bytes, all, r, scans[si].all, scans[si].numeric);
      const meta = { ...opts.seeds[si].meta, seed: Math.floor(r() * 2 ** 31) };
      const o = await sb.run(opts.target, input, meta, opts.timeoutMs);
      inputs++;
      outcomes[o.kind] = (outcomes[o.kind] ?? 0) + 1;
      maxMs = Math.max(maxMs, o.ms);
      if ((o.kind === 'crash' || o.kind === 'hang' || o.kind === 'oom') && crashes.length < 5) {
        const small = await minimise(sb, opts.target, input, meta, o);
        crashes.push({ outcome: o, hex: small.length <= 4096 ? small.toString('hex') : `(${small.length} bytes)`, bytes: small.length });
      }
      if (inputs % 100 === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
  } finally {
    await sb.close();
  }
  return {
    family: opts.family,
    inputs,
    outcomes,
    crashes,
    maxMs: Math.round(maxMs),
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    rssGrowthMb: Math.round((rssMax - rss0) / 1e6),
    restarts: sb.restarts,
  };
}
