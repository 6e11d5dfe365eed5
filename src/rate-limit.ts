import { metrics } from './metrics';

/** Most callers tracked at once: beyond, buckets that have refilled are dropped, so a flood of addresses cannot grow memory. */
const MAX_CALLERS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Requests per second per caller, a token bucket each (issue 17, per-source limits): a caller may send `burst`
 * requests at once and `perSecond` on average; beyond, {@link take} says how long to wait. One limiter per surface
 * (DICOMweb, TriageService, DIMSE); the caller is its authenticated identity, or its address when unauthenticated.
 * perSecond 0 turns it off.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly surface: 'dicomweb' | 'grpc' | 'dimse',
    private readonly options: { perSecond: number; burst: number },
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one request from the caller's bucket: 0 when allowed, else the whole seconds until one is (Retry-After). */
  take(caller: string): number {
    if (this.options.perSecond <= 0) return 0;
    const now = this.now();
    const b = this.buckets.get(caller) ?? { tokens: this.options.burst, at: now };
    b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.at) / 1000) * this.options.perSecond);
    b.at = now;
    if (!this.buckets.has(caller)) {
      if (this.buckets.size >= MAX_CALLERS) this.dropRefilled(now);
      this.buckets.set(caller, b);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    metrics.rateLimited.inc({ surface: this.surface });
    return Math.max(1, Math.ceil((1 - b.tokens) / this.options.perSecond));
  }

  /** Forgets callers whose bucket is full again: they are as if never seen. */
  private dropRefilled(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) / 1000) * this.options.perSecond >= this.options.burst) this.buckets.delete(k);
    if (this.buckets.size >= MAX_CALLERS) this.buckets.clear();
  }
}
