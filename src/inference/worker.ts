/**
 * `lung-triage worker`: the gRPC inference service (lungtriage.inference.v1.InferenceService + grpc.health.v1).
 * Receives a volume as a header and int16 chunks, preprocesses and batches slices while they arrive, runs both
 * models, answers an AnalyzeResponse. Bounded concurrency (RESOURCE_EXHAUSTED at once beyond the limit), strict
 * input validation (INVALID_ARGUMENT naming the problem), deadlines and cancellation honoured between batches.
 */
import { endianness } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Config } from '../config';
import { asLtError, LtError } from '../errors';
import { log, studyTag, withLogContext } from '../logger';
import { untilStopped } from '../until-stopped';
import type { AnalyzeRequest__Output } from '../generated/lungtriage/inference/v1/AnalyzeRequest';
import type { AnalyzeResponse } from '../generated/lungtriage/inference/v1/AnalyzeResponse';
import type { InferenceServiceHandlers } from '../generated/lungtriage/inference/v1/InferenceService';
import type { VolumeHeader__Output } from '../generated/lungtriage/inference/v1/VolumeHeader';
import { isLoopback } from '../config';
import { serverCredentials, type TlsFiles } from '../grpc/credentials';
import { carriesToken } from '../grpc/token';
import { cancelledError, type AnalysisJob } from './analysis-job';
import { InferenceEngine } from './engine';
import type { ExecutionProviderChoice } from './providers';
import { INFERENCE_SERVICE_NAME, inferenceProto, MAX_CHUNK_BYTES } from './proto';
import { analysisToResponse, geometryFromHeader, listModelsResponse, type WorkerSystem } from './wire';
import { MAX_DIMENSION } from '../dicom/instance-header';

/** Settings of one worker (from the Config: workerOptionsFrom). */
export interface WorkerOptions {
  host?: string;
  /** 0 picks an ephemeral port (tests). */
  port?: number;
  modelsDir: string;
  maxConcurrent?: number;
  maxSlices?: number;
  /** Slices whose results the engine keeps for a volume analysed again (default 0: none). */
  sliceCacheSlices?: number;
  executionProvider?: ExecutionProviderChoice;
  tls?: TlsFiles;
  /** Deadline applied when a caller sends none (seconds). */
  deadlineSeconds?: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Bearer token every inference call must carry (health checks stay open for probes). */
  authToken?: string;
  /** Listen off loopback without a token or client certificates (LT_ALLOW_UNAUTHENTICATED). */
  allowUnauthenticated?: boolean;
  /** An engine already loaded (shared by several workers in one process, e.g. tests); not closed by close(). */
  engine?: InferenceEngine;
}

/** A running worker. */
export interface WorkerHandle {
  port: number;
  engine: InferenceEngine;
  /** Analyze calls currently holding a slot. */
  activeCalls(): number;
  /** Stops accepting calls; `force` drops in-flight calls at once (as if the process died). */
  close(opts?: { force?: boolean }): Promise<void>;
}

const MAX_ID_LENGTH = 256;

/** The worker's settings from the validated Config (LT_WORKER_*, LT_TLS_*, LT_MODELS_DIR ...), as `lung-triage worker` runs it. */
export function workerOptionsFrom(c: Config): WorkerOptions {
  return {
    host: c.worker.host,
    port: c.worker.port,
    modelsDir: c.modelsDir,
    maxConcurrent: c.worker.maxConcurrent,
    maxSlices: c.worker.maxSlices,
    sliceCacheSlices: c.worker.sliceCacheSlices,
    executionProvider: c.worker.executionProvider,
    tls: c.tls,
    deadlineSeconds: c.pipeline.inferenceDeadlineSeconds,
    threads: c.worker.threads || undefined,
    authToken: c.worker.authToken,
    allowUnauthenticated: c.auth.allowUnauthenticated,
  };
}

/**
 * Checks a VolumeHeader against the contract (proto comments); throws INVALID_ARGUMENT naming the first problem.
 */
export function validateHeader(h: VolumeHeader__Output, maxSlices: number): void {
  const bad = (msg: string): never => {
    throw LtError.invalid(`invalid VolumeHeader: ${msg}`);
  };
  if (h.studyId.length > MAX_ID_LENGTH || h.seriesId.length > MAX_ID_LENGTH) bad(`study_id and series_id must be at most ${MAX_ID_LENGTH} characters`);
  if (h.contentHash.length > MAX_ID_LENGTH) bad(`content_hash must be at most ${MAX_ID_LENGTH} characters`);
  for (const k of ['rows', 'columns'] as const) {
    if (!(h[k] > 0)) bad(`${k} must be > 0 (got ${h[k]})`);
    if (h[k] > MAX_DIMENSION) bad(`${k} must be at most ${MAX_DIMENSION} (got ${h[k]})`);
  }
  if (!(h.slices > 0)) bad(`slices must be > 0 (got ${h.slices})`);
  if (h.slices > maxSlices) bad(`too many slices: ${h.slices} > the worker's limit of ${maxSlices}`);
  if (h.rows * h.columns * h.slices > 0xffffffff) bad('volume has more than 2^32-1 voxels');
  for (const k of ['rowSpacingMm', 'columnSpacingMm'] as const) {
    if (!Number.isFinite(h[k]) || !(h[k] > 0)) bad(`${k === 'rowSpacingMm' ? 'row_spacing_mm' : 'column_spacing_mm'} must be a finite number > 0 (got ${h[k]})`);
  }
  const pos = h.slicePositionsMm;
  if (pos.length !== h.slices) bad(`slice_positions_mm has ${pos.length} entries, expected one per slice (${h.slices})`);
  for (let i = 0; i < pos.length; i++) {
    if (!Number.isFinite(pos[i])) bad(`slice_positions_mm[${i}] is not finite (${pos[i]})`);
    if (i > 0 && pos[i] < pos[i - 1]) bad(`slice_positions_mm must be ascending (entry ${i}: ${pos[i]} < ${pos[i - 1]})`);
  }
}

/** Reassembles int16 LE chunks into whole slices and feeds them to the job. */
class SliceAssembler {
  private readonly plane: number;
  private readonly total: number;
  private slice: Int16Array;
  private fill = 0;
  /** Voxels received so far. */
  received = 0;

  constructor(
    h: VolumeHeader__Output,
    private readonly job: AnalysisJob,
  ) {
    this.plane = h.rows * h.columns;
    this.total = this.plane * h.slices;
    this.slice = new Int16Array(this.plane);
  }

  async push(firstVoxel: number, hu: Buffer): Promise<void> {
    if (hu.length === 0) throw LtError.invalid('VolumeChunk.hu is empty');
    if (hu.length > MAX_CHUNK_BYTES) throw LtError.invalid(`VolumeChunk.hu is ${hu.length} bytes, more than the ${MAX_CHUNK_BYTES}-byte limit`);
    if (hu.length % 2 !== 0) throw LtError.invalid(`VolumeChunk.hu has an odd number of bytes (${hu.length}); voxels are int16`);
    if (firstVoxel !== this.received)
      throw LtError.invalid(`VolumeChunk.first_voxel is ${firstVoxel}, expected ${this.received} (chunks must be contiguous and in order)`);
    const n = hu.length / 2;
    if (this.received + n > this.total)
      throw LtError.invalid(`extra data: chunks hold more than the ${this.total} voxels the header announced`);
    const src =
      hu.byteOffset % 2 === 0 ? new Int16Array(hu.buffer, hu.byteOffset, n) : new Int16Array(Uint8Array.from(hu).buffer, 0, n);
    let off = 0;
    while (off < n) {
      const take = Math.min(n - off, this.plane - this.fill);
      this.slice.set(src.subarray(off, off + take), this.fill);
      this.fill += take;
      off += take;
      this.received += take;
      if (this.fill === this.plane) {
        this.fill = 0;
        await this.job.addSlice(this.slice);
      }
    }
  }

  checkComplete(): void {
    if (this.received !== this.total)
      throw LtError.invalid(`missing data: the stream ended after ${this.received} of the ${this.total} voxels the header announced`);
  }
}

/** Starts a worker bound to host:port; resolves once it serves. Refuses (throws) when the models fail their checks. */
export async function startWorker(o: WorkerOptions): Promise<WorkerHandle> {
  if (endianness() !== 'LE') throw new Error('the inference worker needs a little-endian host');
  const host = o.host ?? '127.0.0.1';
  const maxConcurrent = o.maxConcurrent ?? 2;
  const maxSlices = o.maxSlices ?? 2000;
  const defaultDeadlineMs = (o.deadlineSeconds ?? 600) * 1000;
  if (!isLoopback(host) && !o.authToken && !o.tls?.requireClientCert && !o.allowUnauthenticated)
    throw LtError.invalid(`refusing to listen without authentication on worker ${host}: set LT_WORKER_AUTH_TOKEN (or client certificates, LT_TLS_REQUIRE_CLIENT_CERT), or LT_ALLOW_UNAUTHENTICATED=true`);
  const creds = serverCredentials(o.tls);
  // Every inference call carries the token; health checks stay open (Kubernetes gRPC probes send no metadata).
  const refused = (md: grpc.Metadata) => o.authToken !== undefined && !carriesToken(md, o.authToken);
  const engine = o.engine ?? (await InferenceEngine.load({ modelsDir: o.modelsDir, executionProvider: o.executionProvider, threads: o.threads, sliceCacheSlices: o.sliceCacheSlices }));
  const m = engine.manifest;
  const system: WorkerSystem = { systemName: m.name, systemVersion: m.version, patientKind: m.patient.kind };
  let active = 0;
  let closing = false;
  const calls = new Set<grpc.ServerReadableStream<AnalyzeRequest__Output, AnalyzeResponse>>();

  const handlers: InferenceServiceHandlers = {
    Analyze(call, callback) {
      if (refused(call.metadata)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong worker token (authorization: Bearer)' });
        return;
      }
      if (closing) {
        callback({ code: grpc.status.UNAVAILABLE, details: 'worker is shutting down' });
        return;
      }
      if (active >= maxConcurrent) {
        callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: `worker busy: ${active} of ${maxConcurrent} analyses running` });
        return;
      }
      active++;
      calls.add(call);
      void handleAnalyze(call)
        .then(
          (res) => callback(null, res),
          (e: unknown) => {
            const err = asLtError(e);
            if (!(e instanceof LtError)) log.error('analysis failed', { component: 'inference', err: e });
            callback({ code: err.grpcCode, details: err.message });
          },
        )
        .finally(() => {
          calls.delete(call);
        });
    },
    ListModels(call, callback) {
      if (refused(call.metadata)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong worker token (authorization: Bearer)' });
        return;
      }
      const { models, executionProvider, labels } = engine;
      callback(null, listModelsResponse({ models, executionProvider, maxConcurrent, maxSlices, activeCalls: active, ...labels }, system));
    },
  };

  async function handleAnalyze(call: grpc.ServerReadableStream<AnalyzeRequest__Output, AnalyzeResponse>): Promise<AnalyzeResponse> {
    const t0 = performance.now();
    let job: AnalysisJob | undefined;
    const stop = new AbortController();
    const deadline = call.getDeadline();
    const deadlineAt = deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? Number(deadline) : Date.now() + defaultDeadlineMs;
    const timer = setTimeout(() => stop.abort(LtError.deadline('deadline exceeded')), Math.max(0, deadlineAt - Date.now()));
    const onCancel = () => stop.abort(cancelledError());
    call.on('cancelled', onCancel);
    stop.signal.addEventListener('abort', () => job?.abort(stop.signal.reason as LtError), { once: true });
    try {
      const it = call[Symbol.asyncIterator]() as AsyncIterator<AnalyzeRequest__Output>;
      const next = () => untilStopped(it.next(), stop.signal);
      const first = await next();
      if (first.done) throw LtError.invalid('empty stream: expected a VolumeHeader first');
      if (first.value.part !== 'header' || !first.value.header) throw LtError.invalid('the first message must be a VolumeHeader');
      const h = first.value.header;
      validateHeader(h, maxSlices);
      return await withLogContext({ component: 'inference', study: studyTag(h.studyId || h.contentHash) }, async () => {
        job = engine.newJob(geometryFromHeader(h));
        if (stop.signal.aborted) job.abort(stop.signal.reason as LtError);
        const asm = new SliceAssembler(h, job);
        for (;;) {
          const r = await next();
          if (r.done) break;
          const msg = r.value;
          if (msg.part === 'header') throw LtError.invalid('a second VolumeHeader arrived; send exactly one, first');
          if (msg.part !== 'chunk' || !msg.chunk) throw LtError.invalid('expected a VolumeChunk');
          await untilStopped(asm.push(msg.chunk.firstVoxel, msg.chunk.hu), stop.signal);
        }
        asm.checkComplete();
        const receivedAt = performance.now();
        const a = await untilStopped(job.finish(), stop.signal);
        a.timingsMs.afterUpload = Math.round((performance.now() - receivedAt) * 1000) / 1000;
        a.timingsMs.total = Math.round((performance.now() - t0) * 1000) / 1000;
        log.info('analysis done', { slices: h.slices, slicesReused: a.slicesReused, executionProvider: a.executionProvider, totalMs: a.timingsMs.total, decision: a.patient.decision });
        return analysisToResponse(a, { ...system, contentHash: h.contentHash });
      });
    } catch (e) {
      if (stop.signal.aborted && e === stop.signal.reason) log.info('analysis stopped', { component: 'inference', reason: (e as Error).message });
      job?.abort(asLtError(e));
      throw e;
    } finally {
      clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
      // The slot is held until the batch in progress (if any) has returned, so the limit bounds real work.
      void (job?.idle() ?? Promise.resolve()).finally(() => {
        active--;
      });
    }
  }

  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  server.addService(inferenceProto.InferenceService.service, handlers);
  const health = new HealthImplementation({ '': 'SERVING', [INFERENCE_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  const notServing = () => {
    health.setStatus('', 'NOT_SERVING');
    health.setStatus(INFERENCE_SERVICE_NAME, 'NOT_SERVING');
  };
  // A crashed session thread leaves the worker unable to analyse: say so, so clients and probes move away from it.
  engine.onFailure((e) => {
    log.error('model session lost: worker NOT_SERVING', { component: 'inference', err: e });
    notServing();
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${o.port ?? 50051}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  log.info('inference worker listening', {
    component: 'inference',
    host,
    port,
    tls: Boolean(o.tls?.cert),
    mtls: Boolean(o.tls?.requireClientCert),
    executionProvider: engine.executionProvider,
    maxConcurrent,
    maxSlices,
  });

  return {
    port,
    engine,
    activeCalls: () => active,
    async close(opts = {}) {
      if (closing) return;
      closing = true;
      notServing();
      if (opts.force) {
        server.forceShutdown();
      } else {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 10_000);
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      for (const c of calls) c.emit('cancelled');
      if (!o.engine) {
        // Wait for running batches to return before releasing the sessions.
        const t1 = Date.now();
        while (active > 0 && Date.now() - t1 < 30_000) await new Promise((r) => setTimeout(r, 20));
        await engine.close();
      }
      log.info('inference worker stopped', { component: 'inference', port });
    },
  };
}
