import { namesAtLeast, PRIORITY, priorityName, priorityRank, requestedPriorityRank } from '../src/triage-priority';

describe('the one triage priority scale', () => {
  test('ranks are the TriageService Priority enum numbers, higher first', () => {
    expect(PRIORITY).toEqual({ ROUTINE: 1, HIGH: 2, URGENT: 3 });
    expect(priorityRank('URGENT')).toBeGreaterThan(priorityRank('HIGH'));
    expect(priorityRank(undefined)).toBe(PRIORITY.ROUTINE);
    expect(priorityRank('PRIORITY_UNSPECIFIED')).toBe(PRIORITY.ROUTINE);
    expect([0, 1, 2, 3, 9].map(priorityName)).toEqual(['ROUTINE', 'ROUTINE', 'HIGH', 'URGENT', 'URGENT']);
    expect(namesAtLeast(PRIORITY.HIGH)).toEqual(['HIGH', 'URGENT']);
  });

  test('Requested Procedure Priority (0040,1003): STAT is urgent, HIGH high, the rest routine, nothing unknown', () => {
    expect(requestedPriorityRank('STAT')).toBe(PRIORITY.URGENT);
    expect(requestedPriorityRank('stat ')).toBe(PRIORITY.URGENT);
    expect(requestedPriorityRank('HIGH')).toBe(PRIORITY.HIGH);
    expect(['ROUTINE', 'MEDIUM', 'LOW'].map(requestedPriorityRank)).toEqual([1, 1, 1]);
    expect(requestedPriorityRank('')).toBeUndefined();
    expect(requestedPriorityRank(undefined)).toBeUndefined();
  });
});
