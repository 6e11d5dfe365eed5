/**
 * p, or the signal's reason as soon as it aborts. Unlike Promise.race with a long-lived promise, it leaves nothing
 * attached to the signal once p settles (racing every message against one pending promise keeps every message,
 * and so the whole uploaded volume, reachable until the call ends).
 */
export function untilStopped<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
