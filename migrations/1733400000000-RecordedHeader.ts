import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The parsed header recorded with each instance (issue 18): ingest parses every received file once, and series
 * selection, the volume stage and the results read what it recorded instead of parsing the spooled file again.
 * `header`: the InstanceHeader (src/dicom/instance-header.ts) as JSON, its path aside (that is spool_path);
 * `patient_study`: the Patient and Study module elements exactly as received, as a small Part 10 file.
 * Rows from before this migration have neither; the first stage that needs them parses the file and fills them in.
 */
export class RecordedHeader1733400000000 implements MigrationInterface {
  name = 'RecordedHeader1733400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE instance ADD COLUMN header jsonb, ADD COLUMN patient_study bytea`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE instance DROP COLUMN header, DROP COLUMN patient_study`);
  }
}
