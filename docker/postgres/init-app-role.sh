#!/bin/sh
# Runs once, when the compose Postgres initialises its data directory (docker-entrypoint-initdb.d): the login user
# the gateway connects as, a member of lung_triage_app. The migrations (run by the owner, the migrate service) grant
# that role what it may do: read and write the working tables, only SELECT and INSERT the audit log, no DDL.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$(cat /run/secrets/app_db_password)" <<'SQL'
CREATE ROLE lung_triage_app NOLOGIN;
CREATE ROLE lungtriage_gateway LOGIN PASSWORD :'app_password' IN ROLE lung_triage_app;
SQL
