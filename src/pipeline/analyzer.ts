import type { Config } from '../config';
import { LtError } from '../errors';
import { InferenceClient } from '../inference/client';
import type { Analysis } from '../inference/types';
import { startWorker, type WorkerHandle } from '../inference/worker';
import { log } from '../logger';
import type { HuVolume } from '../volume';

/** Runs inference on a volume (a gRPC client to the workers, or anything with the same shape): the inference stage as the pipeline sees it. */
export interface Analyzer {
  analyze(volume: HuVolume, opts?: { signal?: AbortSignal }): Promise<Analysis>;
}

/** The inference workers to use: LT_WORKERS, or a worker started in this process when none is configured. */
export async function inferenceFor(config: Config): Promise<{ analyzer: Analyzer; local?: WorkerHandle; close(): Promise<void> }> {
  let local: WorkerHandle | undefined;
  let addresses = config.workers;
  if (addresses.length === 0) {
    try {
      local = await startWorker({ ...config.worker, host: '127.0.0.1', port: 0, modelsDir: config.modelsDir });
      addresses = [`127.0.0.1:${local.port}`];
      log.info('no LT_WORKERS given: started a local inference worker', { port: local.port });
    } catch (e) {
      // Ingest must keep working without models: jobs wait and retry until a worker is there.
      log.error('local inference worker could not start; studies will wait for a worker', { err: e });
      return {
        analyzer: { analyze: () => Promise.reject(LtError.unavailable(`no inference worker: ${(e as Error).message}`)) },
        close: async () => undefined,
      };
    }
  }
  const tls = config.tls.ca ? { ca: config.tls.ca, cert: config.tls.cert, key: config.tls.key } : undefined;
  const client = new InferenceClient(addresses, { deadlineMs: config.pipeline.inferenceDeadlineSeconds * 1000, tls, authToken: config.worker.authToken });
  return {
    analyzer: client,
    local,
    async close() {
      client.close();
      await local?.close();
    },
  };
}
