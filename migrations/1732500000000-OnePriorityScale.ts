import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One triage priority scale (src/triage-priority.ts): 1 routine, 2 high, 3 urgent, higher claimed first, the same
 * numbers as triage_event.priority and the TriageService Priority enum. `job.priority` was never written (every job
 * had the default 0): existing jobs get their result's level, or ROUTINE. `instance.requested_priority` records the
 * rank an instance's order asked for (Requested Procedure Priority, 0040,1003), which a job takes when it opens.
 */
export class OnePriorityScale1732500000000 implements MigrationInterface {
  name = 'OnePriorityScale1732500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      UPDATE job SET priority = CASE result->>'priority' WHEN 'URGENT' THEN 3 WHEN 'HIGH' THEN 2 ELSE 1 END;
      ALTER TABLE job ALTER COLUMN priority SET DEFAULT 1;
      ALTER TABLE job ADD CONSTRAINT job_priority_scale CHECK (priority BETWEEN 1 AND 3);
      COMMENT ON COLUMN job.priority IS 'claim order, higher first: 1 routine, 2 high, 3 urgent (src/triage-priority.ts)';

      ALTER TABLE instance ADD COLUMN requested_priority smallint CHECK (requested_priority BETWEEN 1 AND 3);
      COMMENT ON COLUMN instance.requested_priority IS 'rank asked for by the order (Requested Procedure Priority), NULL when not stated';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE instance DROP COLUMN requested_priority;
      ALTER TABLE job DROP CONSTRAINT job_priority_scale;
      ALTER TABLE job ALTER COLUMN priority SET DEFAULT 0;
      UPDATE job SET priority = 0;
    `);
  }
}
