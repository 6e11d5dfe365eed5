import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit chain becomes unforgeable by the roles the service uses (issue 17, item 7).
 *
 * - `audit_log.hash` of new rows is an HMAC-SHA256 keyed by LT_AUDIT_KEY, which never enters the database: whoever can
 *   INSERT (the app role) or edit behind the trigger (the owner) cannot make a row that verifies. Rows from before this
 *   migration keep their plain sha256 chain (`audit_head.keyed_from` is the first keyed id).
 * - Id, time and link are assigned by the server: `audit_reserve()` (SECURITY DEFINER, so the app role needs no
 *   sequence privilege) takes the id from the sequence, the time from the server clock and the link from `audit_head`,
 *   for this transaction only; the insert trigger refuses any row that does not carry exactly those values, so no role
 *   but the owner with triggers off can back-date a row or give it a huge id.
 * - `audit_head` records the last row appended, outside the rows themselves: a cut tail no longer looks like a short
 *   chain, and a row slipped in behind the trigger never becomes the head later rows link to.
 */
export class AuditKeyedChain1732600000000 implements MigrationInterface {
  name = 'AuditKeyedChain1732600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE audit_head (
        singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        id            bigint NOT NULL,
        hash          text NOT NULL,
        keyed_from    bigint NOT NULL,
        reserved_id   bigint,
        reserved_at   timestamptz,
        reserved_prev text,
        reserved_xact bigint
      );
      COMMENT ON TABLE audit_head IS 'the last audit_log row appended and the current reservation; written only by audit_reserve() and the insert trigger';
      INSERT INTO audit_head (id, hash, keyed_from)
        SELECT coalesce(max(id), 0),
               coalesce((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64)),
               coalesce(max(id), 0) + 1
        FROM audit_log;

      -- Serialised by the same advisory lock the writers used before, so a rolling upgrade keeps one chain.
      CREATE FUNCTION audit_reserve() RETURNS TABLE (id bigint, at timestamptz, prev_hash text)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(7245001);
        -- Milliseconds: the time round-trips through the client (a JavaScript Date) into the row and its MAC.
        RETURN QUERY
          WITH r AS (
            UPDATE audit_head h SET reserved_id = nextval('audit_log_id_seq'), reserved_at = date_trunc('milliseconds', clock_timestamp()),
                                    reserved_prev = h.hash, reserved_xact = txid_current()
            RETURNING h.reserved_id, h.reserved_at, h.reserved_prev)
          SELECT r.reserved_id, r.reserved_at, r.reserved_prev FROM r;
      END $$;

      CREATE FUNCTION audit_log_accept() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE h audit_head;
      BEGIN
        SELECT * INTO h FROM audit_head FOR UPDATE;
        IF h.reserved_xact IS DISTINCT FROM txid_current() OR NEW.id IS DISTINCT FROM h.reserved_id
           OR NEW.at IS DISTINCT FROM h.reserved_at OR NEW.prev_hash IS DISTINCT FROM h.reserved_prev THEN
          RAISE EXCEPTION 'audit_log rows carry the id, time and link audit_reserve() gave this transaction'
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        UPDATE audit_head SET id = NEW.id, hash = NEW.hash,
                              reserved_id = NULL, reserved_at = NULL, reserved_prev = NULL, reserved_xact = NULL;
        RETURN NEW;
      END $$;
      CREATE TRIGGER audit_log_accept BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_accept();

      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lung_triage_app') THEN
          GRANT SELECT ON audit_head TO lung_triage_app;
          -- Ids come from audit_reserve() now: the app role needs (and gets) no hand on the sequence.
          REVOKE USAGE ON SEQUENCE audit_log_id_seq FROM lung_triage_app;
        END IF;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TRIGGER audit_log_accept ON audit_log;
      DROP FUNCTION audit_log_accept();
      DROP FUNCTION audit_reserve();
      DROP TABLE audit_head;
      DO $$
      BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lung_triage_app') THEN
          GRANT USAGE ON SEQUENCE audit_log_id_seq TO lung_triage_app;
        END IF;
      END $$;
    `);
  }
}
