/**
 * Execution-provider probing: which onnxruntime provider the models run on (CUDA when asked for and available,
 * else CPU, with a warning when CUDA was required) and the session options they run with.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { log } from '../logger';
import { ThreadedSession } from './session-thread';

/** Which execution provider to ask for; 'auto' and 'cuda' fall back to CPU (with a warning) when CUDA is absent. */
export type ExecutionProviderChoice = 'auto' | 'cuda' | 'cpu';

/**
 * Whether onnxruntime-node's CUDA execution provider libraries are installed next to its binding (the npm package
 * downloads them at install time on Linux x64 when allowed; without them asking for CUDA can only fail).
 */
export function cudaProviderInstalled(): boolean {
  try {
    const bin = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin');
    for (const napi of readdirSync(bin)) {
      const dir = path.join(bin, napi, process.platform, process.arch);
      if (existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so')) && existsSync(path.join(dir, 'libonnxruntime_providers_shared.so'))) return true;
    }
  } catch {
    /* no bin folder: CPU only */
  }
  return false;
}

/** onnxruntime session options of the worker (execution providers are added per attempt). */
export function sessionOptions(threads?: number): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  };
}

/** The two model sessions and the provider they run on. */
export interface ModelSessions {
  executionProvider: 'cuda' | 'cpu';
  slice: ThreadedSession;
  patient: ThreadedSession;
}

/**
 * Opens the slice and patient model sessions on the requested provider: CUDA when asked for ('auto' or 'cuda'),
 * installed and able to start, else CPU (logged as a warning when CUDA was required, as info for 'auto').
 */
export async function openModelSessions(files: { slice: string; patient: string }, requested: ExecutionProviderChoice, threads?: number): Promise<ModelSessions> {
  const base = sessionOptions(threads);
  const lvl = requested === 'cuda' ? 'warn' : 'info';
  if (requested !== 'cpu' && !cudaProviderInstalled()) {
    log[lvl]('CUDA execution provider not installed with onnxruntime-node, using CPU', { component: 'inference', requested });
  } else if (requested !== 'cpu') {
    let slice: ThreadedSession | undefined;
    try {
      slice = await ThreadedSession.create(files.slice, { ...base, executionProviders: ['cuda'] });
      const patient = await ThreadedSession.create(files.patient, { ...base, executionProviders: ['cuda', 'cpu'] });
      return { executionProvider: 'cuda', slice, patient };
    } catch (e) {
      await slice?.release();
      log[lvl]('CUDA execution provider failed to start, using CPU', { component: 'inference', requested, err: (e as Error).message });
    }
  }
  const slice = await ThreadedSession.create(files.slice, { ...base, executionProviders: ['cpu'] });
  const patient = await ThreadedSession.create(files.patient, { ...base, executionProviders: ['cpu'] });
  return { executionProvider: 'cpu', slice, patient };
}
