import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pull as a long-running operation (issue 16): SubmitStudy and reconciliation record a pull and return; the
 * retrieval runs in the background under a lease. The study is 'pulling' meanwhile, so the quiet period never opens
 * a job on a half-pulled study; a gateway that dies mid-pull leaves the row, and whichever gateway claims it once
 * the lease has run out resumes it (instances already held are not fetched again). A pull that cannot succeed
 * (the PACS no longer holds the study, nothing could be stored) leaves the study 'pull_failed' with the reason.
 */
export class StudyPull1733100000000 implements MigrationInterface {
  name = 'StudyPull1733100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE study DROP CONSTRAINT study_state_check;
      ALTER TABLE study ADD CONSTRAINT study_state_check CHECK (state IN ('receiving', 'ready', 'pulling', 'pull_failed'));
      CREATE TABLE study_pull (
        study_uid    text PRIMARY KEY REFERENCES study (study_uid),
        -- who asked: an operator's SubmitStudy, or reconciliation finding a study that never reached us
        origin       text NOT NULL CHECK (origin IN ('submit', 'reconcile')),
        requested_by text NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        -- instances the PACS listed at the last QIDO-RS (the progress GetStudy shows against instance_count)
        expected     integer NOT NULL DEFAULT 0,
        attempts     integer NOT NULL DEFAULT 0,
        next_run_at  timestamptz NOT NULL DEFAULT now(),
        lease_owner  text,
        lease_until  timestamptz,
        error        text
      );
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lung_triage_app') THEN
          GRANT SELECT, INSERT, UPDATE, DELETE ON study_pull TO lung_triage_app;
        END IF;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE study_pull;
      UPDATE study SET state = 'receiving' WHERE state IN ('pulling', 'pull_failed');
      ALTER TABLE study DROP CONSTRAINT study_state_check;
      ALTER TABLE study ADD CONSTRAINT study_state_check CHECK (state IN ('receiving', 'ready'));
    `);
  }
}
