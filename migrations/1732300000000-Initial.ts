import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The whole store: received studies and instances, the job per study, the result outbox, triage events and the
 * append-only, hash-chained audit log. Raw SQL so the schema is exactly what reviewers read here.
 */
export class Initial1732300000000 implements MigrationInterface {
  name = 'Initial1732300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE study (
        study_uid        text PRIMARY KEY,
        first_received_at timestamptz NOT NULL DEFAULT now(),
        last_received_at  timestamptz NOT NULL DEFAULT now(),
        instance_count   integer NOT NULL DEFAULT 0,
        -- 'receiving' until quiet for LT_STABLE_SECONDS, then 'ready' (a job exists); a late instance sets it back
        state            text NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'ready')),
        source           text NOT NULL DEFAULT 'push' CHECK (source IN ('push', 'pull', 'local'))
      );
      CREATE INDEX study_receiving_idx ON study (last_received_at) WHERE state = 'receiving';

      CREATE TABLE instance (
        sop_instance_uid    text PRIMARY KEY,
        study_uid           text NOT NULL REFERENCES study (study_uid),
        series_uid          text NOT NULL,
        sop_class_uid       text NOT NULL,
        transfer_syntax_uid text NOT NULL,
        modality            text,
        spool_path          text NOT NULL,
        size_bytes          bigint NOT NULL,
        sha256              text NOT NULL,
        received_at         timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX instance_study_idx ON instance (study_uid);

      -- Same SOP Instance UID received again with different bytes: kept aside, never overwriting the original.
      CREATE TABLE instance_conflict (
        id               bigserial PRIMARY KEY,
        sop_instance_uid text NOT NULL REFERENCES instance (sop_instance_uid),
        spool_path       text NOT NULL,
        sha256           text NOT NULL,
        received_at      timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE job (
        id            bigserial PRIMARY KEY,
        study_uid     text NOT NULL REFERENCES study (study_uid),
        state         text NOT NULL CHECK (state IN ('ready', 'selected', 'inferred', 'encoded', 'delivered', 'failed', 'superseded')),
        input_hash    text,
        -- claim order only (higher first); the triage priority of a result lives in result.priority
        priority      integer NOT NULL DEFAULT 0,
        attempts      integer NOT NULL DEFAULT 0,
        next_run_at   timestamptz NOT NULL DEFAULT now(),
        lease_owner   text,
        lease_until   timestamptz,
        error         text,
        timings       jsonb NOT NULL DEFAULT '{}'::jsonb,
        result        jsonb,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX job_claim_idx ON job (next_run_at, id) WHERE state NOT IN ('delivered', 'failed', 'superseded');
      CREATE INDEX job_study_idx ON job (study_uid);

      -- One row per result instance to deliver; state per instance so a 202 re-sends only what failed.
      CREATE TABLE outbox (
        id                bigserial PRIMARY KEY,
        job_id            bigint NOT NULL REFERENCES job (id),
        study_uid         text NOT NULL,
        sop_instance_uid  text NOT NULL UNIQUE,
        sop_class_uid     text NOT NULL,
        path              text NOT NULL,
        state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts          integer NOT NULL DEFAULT 0,
        next_attempt_at   timestamptz NOT NULL DEFAULT now(),
        last_error        text,
        delivered_at      timestamptz,
        created_at        timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state = 'pending';

      CREATE TABLE triage_event (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL DEFAULT now(),
        kind       text NOT NULL,
        study_uid  text NOT NULL,
        job_id     bigint,
        -- 1 routine, 2 high, 3 urgent (TriageService Priority)
        priority   integer NOT NULL DEFAULT 1 CHECK (priority BETWEEN 1 AND 3),
        payload    jsonb NOT NULL DEFAULT '{}'::jsonb
      );

      CREATE TABLE audit_log (
        id          bigint PRIMARY KEY,
        at          timestamptz NOT NULL,
        actor       text NOT NULL,
        action      text NOT NULL,
        outcome     text NOT NULL,
        study_uid   text,
        object_uids text[] NOT NULL DEFAULT '{}',
        detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
        prev_hash   text NOT NULL,
        hash        text NOT NULL
      );
      CREATE SEQUENCE audit_log_id_seq OWNED BY audit_log.id;
      CREATE INDEX audit_study_idx ON audit_log (study_uid);

      -- Append-only: the database itself refuses edits; only a superuser disabling triggers can bypass it,
      -- and the hash chain makes that visible to 'lung-triage audit verify'.
      CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE audit_log;
      DROP FUNCTION audit_log_refuse_change();
      DROP TABLE triage_event;
      DROP TABLE outbox;
      DROP TABLE job;
      DROP TABLE instance_conflict;
      DROP TABLE instance;
      DROP TABLE study;
    `);
  }
}
