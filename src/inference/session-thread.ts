/**
 * An onnxruntime session in a worker thread of its own. onnxruntime-node's run() computes synchronously on the
 * calling thread, so on the main thread every batch would freeze the event loop: no gRPC chunks received, no slice
 * preprocessed, no health check answered until it returns. In a thread of its own only that thread waits, and the
 * worker keeps receiving and preprocessing the next slices while the model runs.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { LtError } from '../errors';
import { PACKAGE_ROOT } from '../paths';

/** A tensor as it crosses the thread boundary. */
export interface PlainTensor {
  data: Float32Array;
  dims: number[];
}

/** A model run's outputs, and its inputs handed back for reuse. */
export interface RunResult {
  outputs: Record<string, PlainTensor>;
  inputs: Record<string, PlainTensor>;
}

/** What the thread is started with. */
export interface SessionThreadInit {
  file: string;
  options: ort.InferenceSession.SessionOptions;
}

/** Messages to the thread. */
export interface ThreadRequest {
  id: number;
  feeds?: Record<string, PlainTensor>;
  release?: boolean;
}

/** Messages from the thread (id 0: the answer to creation). */
export interface ThreadReply {
  id: number;
  outputs?: Record<string, PlainTensor>;
  /** The feeds of the request, handed back. */
  inputs?: Record<string, PlainTensor>;
  inputNames?: string[];
  outputNames?: string[];
  error?: string;
}

/** The compiled thread entry: next to this file when running from dist, else the build's copy (tests run sources). */
function threadEntry(): string {
  const here = path.join(__dirname, 'session-thread-main.js');
  if (existsSync(here)) return here;
  const built = path.join(PACKAGE_ROOT, 'dist/src/inference/session-thread-main.js');
  if (existsSync(built)) return built;
  throw new Error(`${built} not found: run 'npm run build' first`);
}

export class ThreadedSession {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: unknown) => void }>();
  private stopped: LtError | undefined;
  private releasing = false;
  private readonly onStopped: ((e: LtError) => void)[] = [];

  private constructor(
    private readonly worker: Worker,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {
    worker.on('message', (m: ThreadReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(LtError.internal(`model run failed: ${m.error}`));
      else p.resolve({ outputs: m.outputs ?? {}, inputs: m.inputs ?? {} });
    });
    const stop = (why: string) => {
      if (this.stopped) return;
      this.stopped = LtError.internal(`inference thread stopped: ${why}`);
      for (const p of this.pending.values()) p.reject(this.stopped);
      this.pending.clear();
      if (!this.releasing) for (const cb of this.onStopped) cb(this.stopped);
    };
    worker.on('error', (e) => stop(e.message));
    worker.on('exit', (code) => stop(`exit code ${code}`));
  }

  /** Starts a thread and creates the session there; rejects with the reason when the session cannot be created. */
  static create(file: string, options: ort.InferenceSession.SessionOptions): Promise<ThreadedSession> {
    const worker = new Worker(threadEntry(), { workerData: { file, options } satisfies SessionThreadInit });
    return new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        void worker.terminate();
        reject(e);
      };
      worker.once('error', fail);
      worker.once('message', (m: ThreadReply) => {
        worker.off('error', fail);
        if (m.error !== undefined) return fail(new Error(m.error));
        resolve(new ThreadedSession(worker, m.inputNames ?? [], m.outputNames ?? []));
      });
    });
  }

  /**
   * Runs the model. Input arrays whose buffer is listed in `transfer` move to the thread (no copy) and are unusable
   * until they come back in the result's `inputs`; the rest are copied.
   */
  run(feeds: Record<string, PlainTensor>, transfer: ArrayBuffer[] = []): Promise<RunResult> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, feeds } satisfies ThreadRequest, transfer);
    });
  }

  /** Calls back when the thread ends other than by release() (a crash): the session is unusable from then on. */
  onUnexpectedStop(cb: (e: LtError) => void): void {
    this.onStopped.push(cb);
  }

  /** Releases the session and ends the thread. */
  async release(): Promise<void> {
    if (this.stopped) return;
    this.releasing = true;
    const ended = new Promise((r) => this.worker.once('exit', r));
    this.worker.postMessage({ id: 0, release: true } satisfies ThreadRequest);
    await ended;
  }
}
