import { log } from './logger';

/** A background loop that runs one task at a time, every `intervalMs`, until stopped. */
export interface Poller {
  /** Runs the task now (after any run in progress), for tests and shutdown. */
  kick(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a poller; errors are logged and the loop goes on (a database blip must not stop the service). */
export function startPoller(name: string, intervalMs: number, task: () => Promise<unknown>): Poller {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const run = (): Promise<void> => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        await task();
      } catch (e) {
        log.error('background task failed', { task: name, err: e });
      }
    });
    return running;
  };
  const loop = () => {
    if (stopped) return;
    void run().then(() => {
      if (!stopped) timer = setTimeout(loop, intervalMs);
    });
  };
  timer = setTimeout(loop, intervalMs);
  return {
    kick: run,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
