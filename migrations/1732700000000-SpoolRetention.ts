import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Spool retention (issue 16): an instance's file is removed from the spool once its study's job has ended
 * (LT_SPOOL_RETAIN_SECONDS) or it is older than LT_SPOOL_MAX_AGE_HOURS. The row stays (the audit trail and the
 * identity of what was received); purged_at says the bytes are gone, so nothing reads them and WADO-RS answers 410.
 */
export class SpoolRetention1732700000000 implements MigrationInterface {
  name = 'SpoolRetention1732700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE instance ADD COLUMN purged_at timestamptz;
      COMMENT ON COLUMN instance.purged_at IS 'when the spool file was removed by retention; NULL while it is on disk';
      ALTER TABLE instance_conflict ADD COLUMN purged_at timestamptz;
      COMMENT ON COLUMN instance_conflict.purged_at IS 'when the spool file was removed by retention; NULL while it is on disk';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE instance_conflict DROP COLUMN purged_at;
      ALTER TABLE instance DROP COLUMN purged_at;
    `);
  }
}
