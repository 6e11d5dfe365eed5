/**
 * Client of the inference workers (used by the gateway): streams an HuVolume to a healthy worker and returns the
 * Analysis. Several workers: each call asks grpc.health.v1 Check which ones serve, starts with the next one in
 * round-robin order, and moves on to another worker on UNAVAILABLE (worker down or killed mid-call) or
 * RESOURCE_EXHAUSTED (worker full). Every call carries a deadline; errors are LtError with the gRPC code.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { tokenInterceptor } from '../grpc/token';
import { LtError } from '../errors';
import { log } from '../logger';
import type { HuVolume } from '../volume/types';
import type { AnalyzeRequest } from '../generated/lungtriage/inference/v1/AnalyzeRequest';
import type { AnalyzeResponse__Output } from '../generated/lungtriage/inference/v1/AnalyzeResponse';
import type { InferenceServiceClient } from '../generated/lungtriage/inference/v1/InferenceService';
import type { InfectionResult__Output } from '../generated/lungtriage/inference/v1/InfectionResult';
import type { Label__Output } from '../generated/lungtriage/inference/v1/Label';
import type { HealthClient } from '../generated/grpc/health/v1/Health';
import { healthProto, INFERENCE_SERVICE_NAME, inferenceProto, MAX_CHUNK_BYTES } from './proto';
import type { Analysis, LabelInfo, ModelIdentity, PatientResult } from './types';

/** TLS for the client: file paths (as in config.tls) or PEM contents. cert+key present = mTLS client identity. */
export interface ClientTls {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Expected server name when it differs from the address host (e.g. connecting by IP). */
  serverName?: string;
}

/** Options of an InferenceClient. */
export interface InferenceClientOptions {
  /** Deadline of each analyze/listModels call, retries included (ms). */
  deadlineMs: number;
  tls?: ClientTls;
  /** Bearer token sent on every call (the workers' LT_WORKER_AUTH_TOKEN). */
  authToken?: string;
  /** Deadline of one health check (ms, default 2000). */
  healthTimeoutMs?: number;
}

/** Progress of one analyze call: the upload (the worker computes as slices arrive). */
export interface AnalyzeProgress {
  worker: string;
  sentSlices: number;
  totalSlices: number;
}

/** Options of one analyze call. */
export interface AnalyzeOptions {
  signal?: AbortSignal;
  onProgress?: (p: AnalyzeProgress) => void;
}

/** What one worker has loaded. */
export interface WorkerModels {
  address: string;
  executionProvider: string;
  systemName: string;
  systemVersion: string;
  models: (ModelIdentity & { kind: string })[];
  maxConcurrent: number;
  maxSlices: number;
  activeCalls: number;
  classes: LabelInfo[];
  lesionTypes: LabelInfo[];
}

interface Worker {
  address: string;
  client: InferenceServiceClient;
  health: HealthClient;
}

const RETRY_ON = new Set([grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED]);

function pem(v: string | Buffer | undefined): Buffer | null {
  if (v === undefined) return null;
  if (Buffer.isBuffer(v)) return v;
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

function httpStatusOf(code: grpc.status): number {
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
      return 400;
    case grpc.status.RESOURCE_EXHAUSTED:
    case grpc.status.UNAVAILABLE:
      return 503;
    case grpc.status.DEADLINE_EXCEEDED:
      return 504;
    case grpc.status.CANCELLED:
      return 499;
    case grpc.status.UNAUTHENTICATED:
      return 401;
    case grpc.status.NOT_FOUND:
      return 404;
    default:
      return 500;
  }
}

/** A gRPC error as our typed error, keeping the code and the server's details. */
export function fromGrpcError(e: grpc.ServiceError | Error, address?: string): LtError {
  const se = e as Partial<grpc.ServiceError>;
  const code = typeof se.code === 'number' ? se.code : grpc.status.UNKNOWN;
  const details = se.details || e.message;
  return new LtError(`inference worker${address ? ` ${address}` : ''}: ${details}`, httpStatusOf(code), code, undefined, address ? { worker: address } : undefined);
}

function labelsFromWire(l: Label__Output[]): LabelInfo[] {
  return l.map((x) => ({ label: x.label, display: x.display, code: x.code ? { value: x.code.value, scheme: x.code.scheme, meaning: x.code.meaning } : null }));
}

function infectionFromWire(i: InfectionResult__Output): NonNullable<PatientResult['infection']> {
  const decision = i.decision === 'present' ? 'present' : i.decision === 'indeterminate' ? 'indeterminate' : 'absent';
  return { decision, fraction: i.fraction, infectedMl: i.infectedMl, lungMl: i.lungMl, urgentFraction: i.urgentFraction };
}

/** AnalyzeResponse -> Analysis (the contract the rest of the system consumes). */
export function responseToAnalysis(r: AnalyzeResponse__Output): Analysis {
  if (!r.patient) throw LtError.internal('inference worker answered without a patient result');
  return {
    classes: labelsFromWire(r.classes),
    positiveClass: r.positiveClass,
    lesionTypes: labelsFromWire(r.lesionTypes),
    slices: r.slices.map((s) => ({
      index: s.index,
      lesionProbability: s.lesionProbability,
      classProbabilities: [...s.classProbabilities],
      lesionTypeProbabilities: [...s.lesionTypeProbabilities],
      lesionMap: new Uint8Array(s.lesionMap),
      mapWidth: s.mapWidth,
      mapHeight: s.mapHeight,
      cropBox: s.cropBox ? { x: s.cropBox.x, y: s.cropBox.y, width: s.cropBox.width, height: s.cropBox.height } : { x: 0, y: 0, width: 0, height: 0 },
      lungAreaMm2: s.lungAreaMm2,
      infectedAreaMm2: s.infectedAreaMm2,
      imageLeftLungAreaMm2: s.imageLeftLungAreaMm2,
      imageLeftInfectedAreaMm2: s.imageLeftInfectedAreaMm2,
      infectionProbability: s.infectionProbability,
    })),
    patient: {
      classProbabilities: [...r.patient.classProbabilities],
      label: r.patient.label,
      positiveProbability: r.patient.positiveProbability,
      threshold: r.patient.threshold,
      decision: r.patient.decision === 'positive' ? 'positive' : r.patient.decision === 'indeterminate' ? 'indeterminate' : 'negative',
      ...(r.patient.infection ? { infection: infectionFromWire(r.patient.infection) } : {}),
    },
    sliceLesionThreshold: r.sliceLesionThreshold,
    ...(r.patient.infection ? { minInfectedSliceAreaMm2: r.minInfectedSliceAreaMm2, infectionPixelThreshold: r.infectionPixelThreshold } : {}),
    models: r.models.map((m) => ({ role: m.role === 'patient' ? 'patient' : 'slice', name: m.name, version: m.version, sha256: m.sha256 })),
    executionProvider: r.executionProvider,
    timingsMs: Object.fromEntries(r.timings.map((t) => [t.stage, t.ms])),
    slicesReused: r.slicesReused,
  };
}

/** Client of one or more inference workers. */
export class InferenceClient {
  private readonly workers: Worker[];
  private rr = 0;
  private readonly healthTimeoutMs: number;

  constructor(
    addresses: string[],
    private readonly opts: InferenceClientOptions,
  ) {
    if (addresses.length === 0) throw new Error('InferenceClient needs at least one worker address');
    if (!(opts.deadlineMs > 0)) throw new Error('InferenceClient needs a deadline (deadlineMs > 0)');
    const creds = opts.tls
      ? grpc.credentials.createSsl(pem(opts.tls.ca), pem(opts.tls.key), pem(opts.tls.cert))
      : grpc.credentials.createInsecure();
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // A name may resolve to several workers (a Kubernetes headless Service): spread calls over all of them.
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
      ...(opts.authToken ? { interceptors: [tokenInterceptor(opts.authToken)] } : {}),
      ...(opts.tls?.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName, 'grpc.default_authority': opts.tls.serverName } : {}),
    };
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 2000;
    this.workers = addresses.map((address) => {
      const client = new inferenceProto.InferenceService(address, creds, channelOptions);
      const health = new healthProto.Health(address, creds, { channelOverride: client.getChannel() });
      return { address, client, health };
    });
  }

  /** grpc.health.v1 Check of one worker for the inference service; resolves to true when SERVING. */
  private check(w: Worker, deadline: number): Promise<{ ok: boolean; why?: string }> {
    const d = Math.min(deadline, Date.now() + this.healthTimeoutMs);
    return new Promise((resolve) =>
      w.health.check({ service: INFERENCE_SERVICE_NAME }, { deadline: d }, (err, res) => {
        if (err) resolve({ ok: false, why: err.details || err.message });
        else if (res?.status !== 'SERVING') resolve({ ok: false, why: `health ${res?.status ?? 'unknown'}` });
        else resolve({ ok: true });
      }),
    );
  }

  /** Workers in try order: healthy ones from the round-robin position; throws UNAVAILABLE when none is healthy. */
  private async candidates(deadline: number): Promise<Worker[]> {
    const start = this.rr++ % this.workers.length;
    const ordered = [...this.workers.slice(start), ...this.workers.slice(0, start)];
    const checks = await Promise.all(ordered.map((w) => this.check(w, deadline)));
    const healthy = ordered.filter((_, i) => checks[i].ok);
    if (healthy.length === 0) {
      if (Date.now() >= deadline) throw LtError.deadline('inference deadline exceeded while looking for a worker');
      throw LtError.unavailable(`no healthy inference worker (${ordered.map((w, i) => `${w.address}: ${checks[i].why}`).join('; ')})`);
    }
    return healthy;
  }

  /** Analyses one volume on a worker; retried on another worker when one is unavailable or full. */
  async analyze(volume: HuVolume, opts: AnalyzeOptions = {}): Promise<Analysis> {
    if (endianness() !== 'LE') throw new Error('InferenceClient needs a little-endian host');
    const t0 = performance.now();
    const deadline = Date.now() + this.opts.deadlineMs;
    if (opts.signal?.aborted) throw new LtError('analysis cancelled', 499, grpc.status.CANCELLED);
    const failures: LtError[] = [];
    const busy = new Set<string>();
    // Round 0 tries every healthy worker once; round 1, after a short pause, only those that were full.
    for (let round = 0; round < 2; round++) {
      const list = await this.candidates(deadline);
      for (const w of list) {
        if (round === 1 && !busy.has(w.address)) continue;
        try {
          const a = await this.analyzeOn(w, volume, deadline, opts);
          a.timingsMs.rpc = Math.round((performance.now() - t0) * 1000) / 1000;
          return a;
        } catch (e) {
          const err = e as LtError;
          if (!RETRY_ON.has(err.grpcCode) || opts.signal?.aborted) throw err;
          failures.push(err);
          if (err.grpcCode === grpc.status.RESOURCE_EXHAUSTED) busy.add(w.address);
          else busy.delete(w.address);
          log.warn('inference worker failed, trying another', { component: 'inference', worker: w.address, code: grpc.status[err.grpcCode] });
        }
      }
      if (busy.size === 0 || Date.now() + 500 >= deadline) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const last = failures[failures.length - 1];
    throw new LtError(`all inference workers failed: ${failures.map((f) => f.message).join('; ')}`, last.httpStatus, last.grpcCode);
  }

  private analyzeOn(w: Worker, v: HuVolume, deadline: number, opts: AnalyzeOptions): Promise<Analysis> {
    return new Promise<Analysis>((resolve, reject) => {
      let done = false;
      const finish = (err: LtError | null, a?: Analysis) => {
        if (done) return;
        done = true;
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(a as Analysis);
      };
      const call = w.client.analyze({ deadline }, (err, res) => {
        if (err) {
          if (err.code === grpc.status.CANCELLED && opts.signal?.aborted) finish(new LtError('analysis cancelled', 499, grpc.status.CANCELLED));
          else if (err.code === grpc.status.CANCELLED)
            // Not cancelled by us: the worker dropped the call (shut down or killed). Try another worker.
            finish(LtError.unavailable(`inference worker ${w.address} dropped the call (${err.details || 'cancelled'})`));
          else finish(fromGrpcError(err, w.address));
          return;
        }
        try {
          finish(null, responseToAnalysis(res as AnalyzeResponse__Output));
        } catch (e) {
          finish(e as LtError);
        }
      });
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      void this.upload(call, w.address, v, opts, () => done).catch((e: unknown) => {
        call.cancel();
        finish(e instanceof LtError ? e : LtError.internal(`upload failed: ${(e as Error).message}`));
      });
    });
  }

  private async upload(
    call: grpc.ClientWritableStream<AnalyzeRequest>,
    address: string,
    v: HuVolume,
    opts: AnalyzeOptions,
    isDone: () => boolean,
  ): Promise<void> {
    const positions = v.sources.length === v.slices ? v.sources.map((s) => s.position) : Array.from({ length: v.slices }, (_, i) => i * v.sliceSpacing);
    const write = async (msg: AnalyzeRequest) => {
      if (isDone()) return false;
      if (!call.write(msg)) {
        await new Promise<void>((resolve) => {
          const t = setInterval(() => isDone() && (clearInterval(t), resolve()), 50);
          call.once('drain', () => (clearInterval(t), resolve()));
        });
      }
      return !isDone();
    };
    const ok = await write({
      header: {
        studyId: v.studyUid,
        seriesId: v.seriesUid,
        rows: v.rows,
        columns: v.columns,
        slices: v.slices,
        rowSpacingMm: v.pixelSpacing[0],
        columnSpacingMm: v.pixelSpacing[1],
        slicePositionsMm: positions,
        contentHash: v.contentHash,
      },
    });
    if (!ok) return;
    const plane = v.rows * v.columns;
    const perChunk = MAX_CHUNK_BYTES / 2;
    const hu = v.hu;
    for (let off = 0; off < hu.length; off += perChunk) {
      const n = Math.min(perChunk, hu.length - off);
      const bytes = Buffer.from(hu.buffer, hu.byteOffset + off * 2, n * 2);
      if (!(await write({ chunk: { firstVoxel: off, hu: bytes } }))) return;
      opts.onProgress?.({ worker: address, sentSlices: Math.floor((off + n) / plane), totalSlices: v.slices });
    }
    call.end();
  }

  /** What each reachable worker has loaded (unreachable ones are left out; none reachable = UNAVAILABLE). */
  async listModels(): Promise<WorkerModels[]> {
    const deadline = Date.now() + this.opts.deadlineMs;
    const res = await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<WorkerModels | LtError>((resolve) =>
            w.client.listModels({}, { deadline }, (err, r) => {
              if (err || !r) return resolve(fromGrpcError(err ?? new Error('empty answer'), w.address));
              resolve({
                address: w.address,
                executionProvider: r.executionProvider,
                systemName: r.systemName,
                systemVersion: r.systemVersion,
                models: r.models.map((m) => ({ role: m.role === 'patient' ? 'patient' : 'slice', name: m.name, version: m.version, sha256: m.sha256, kind: m.kind })),
                maxConcurrent: r.maxConcurrent,
                maxSlices: r.maxSlices,
                activeCalls: r.activeCalls,
                classes: labelsFromWire(r.classes),
                lesionTypes: labelsFromWire(r.lesionTypes),
              });
            }),
          ),
      ),
    );
    const ok = res.filter((r): r is WorkerModels => !(r instanceof LtError));
    if (ok.length === 0) throw LtError.unavailable(`no inference worker reachable (${(res as LtError[]).map((e) => e.message).join('; ')})`);
    return ok;
  }

  /** Closes every channel. */
  close(): void {
    for (const w of this.workers) w.client.close();
  }
}
