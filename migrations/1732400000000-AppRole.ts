import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Least privilege: the role the gateway and worker should run as, `lung_triage_app` (NOLOGIN: a deployment grants it
 * to its login user, `GRANT lung_triage_app TO <user>`, or logs in as a user made a member of it). It may read and
 * write the working tables but only SELECT and INSERT the audit log: UPDATE, DELETE and TRUNCATE on audit_log are
 * refused by privilege, before the append-only trigger is even reached. The migrations themselves (DDL) stay with the
 * owner.
 *
 * Roles are cluster-wide: the role is created only when missing and only when the migrating user may create roles
 * (otherwise a NOTICE is raised and nothing is granted, so an owner without CREATEROLE can still migrate). down()
 * revokes what up() granted in this database and drops the role when nothing else (another database) still uses it.
 */
export class AppRole1732400000000 implements MigrationInterface {
  name = 'AppRole1732400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lung_triage_app') THEN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            RAISE NOTICE 'lung_triage_app not created: % may not create roles', current_user;
            RETURN;
          END IF;
          BEGIN
            CREATE ROLE lung_triage_app NOLOGIN;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another database of the same cluster created it at the same moment
          END;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO lung_triage_app', current_database());
        GRANT USAGE ON SCHEMA public TO lung_triage_app;
        GRANT SELECT, INSERT, UPDATE, DELETE ON study, instance, instance_conflict, job, outbox, triage_event TO lung_triage_app;
        GRANT USAGE, SELECT ON SEQUENCE instance_conflict_id_seq, job_id_seq, outbox_id_seq, triage_event_id_seq TO lung_triage_app;
        -- The audit log: append and read only.
        GRANT SELECT, INSERT ON audit_log TO lung_triage_app;
        GRANT USAGE ON SEQUENCE audit_log_id_seq TO lung_triage_app;
        -- So a gateway running as the role finds the schema up to date at start (it never runs DDL).
        GRANT SELECT ON schema_migrations TO lung_triage_app;
      END $$;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lung_triage_app') THEN
          RETURN;
        END IF;
        REVOKE ALL ON study, instance, instance_conflict, job, outbox, triage_event, audit_log, schema_migrations FROM lung_triage_app;
        REVOKE ALL ON SEQUENCE instance_conflict_id_seq, job_id_seq, outbox_id_seq, triage_event_id_seq, audit_log_id_seq FROM lung_triage_app;
        REVOKE USAGE ON SCHEMA public FROM lung_triage_app;
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM lung_triage_app', current_database());
        BEGIN
          DROP ROLE lung_triage_app;
        EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
          RAISE NOTICE 'lung_triage_app kept: still used elsewhere in the cluster (or not ours to drop)';
        END;
      END $$;
    `);
  }
}
