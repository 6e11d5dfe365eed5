import { sharedRecent } from '../../src/api/http';

describe('sharedRecent (what /readyz and /metrics share under a flood)', () => {
  test('concurrent callers share one run, its answer is reused for maxAge, then a new run starts', async () => {
    let runs = 0;
    let release!: () => void;
    const probe = sharedRecent(async () => {
      runs++;
      await new Promise<void>((r) => (release = r));
      return runs;
    }, 60_000);
    const flood = Array.from({ length: 500 }, () => probe());
    release();
    expect(new Set(await Promise.all(flood))).toEqual(new Set([1]));
    expect(await probe()).toBe(1);
    expect(runs).toBe(1);

    const quick = sharedRecent(() => Promise.resolve(++runs), 0);
    await quick();
    await quick();
    expect(runs).toBe(3);
  });

  test('an answer `reusable` turns down is not reused (a failing readiness check is checked again at once)', async () => {
    let runs = 0;
    const probe = sharedRecent(() => Promise.resolve(++runs), 60_000, (n) => n >= 2);
    expect([await probe(), await probe(), await probe()]).toEqual([1, 2, 2]);
  });

  test('a failed run is not reused: the next caller runs it again', async () => {
    let runs = 0;
    const probe = sharedRecent(() => (++runs === 1 ? Promise.reject(new Error('database down')) : Promise.resolve('ok')), 60_000);
    await expect(Promise.all([probe(), probe()])).rejects.toThrow('database down');
    expect(await probe()).toBe('ok');
    expect(runs).toBe(2);
  });
});
