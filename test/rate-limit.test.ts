import { RateLimiter } from '../src/rate-limit';

describe('RateLimiter (token bucket per caller)', () => {
  test('a caller gets its burst at once, then one request per 1/perSecond; Retry-After says when', () => {
    let now = 0;
    const limiter = new RateLimiter('dicomweb', { perSecond: 2, burst: 3 }, () => now);
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([0, 0, 0, 1]);
    expect(limiter.take('b')).toBe(0); // another caller, its own bucket
    now += 500; // half a second: one token back
    expect([limiter.take('a'), limiter.take('a')]).toEqual([0, 1]);
    now += 10_000; // refills to the burst, never beyond
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([0, 0, 0, 1]);
  });

  test('a slow rate answers a long Retry-After; 0 turns the limit off', () => {
    const slow = new RateLimiter('grpc', { perSecond: 0.01, burst: 1 }, () => 0);
    expect([slow.take('a'), slow.take('a')]).toEqual([0, 100]);
    const off = new RateLimiter('grpc', { perSecond: 0, burst: 1 });
    expect(Array.from({ length: 100 }, () => off.take('a')).every((w) => w === 0)).toBe(true);
  });

  test('a flood of distinct callers does not grow memory: at most 10,000 buckets are kept', () => {
    let now = 0;
    const limiter = new RateLimiter('dimse', { perSecond: 1, burst: 1 }, () => now);
    for (let i = 0; i < 25_000; i++) {
      limiter.take(`peer-${i}`);
      now += 0.1;
    }
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(10_000);
  });
});
