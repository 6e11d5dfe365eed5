#!/usr/bin/env bash
# Creates docker/secrets/ for compose.yml, once: a random Postgres password and the database URL built from it.
# Existing files are kept. The folder is git-ignored (docker/.gitignore); never commit it.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
if [ ! -s secrets/postgres_password ]; then
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > secrets/postgres_password
  echo "init-secrets: wrote secrets/postgres_password"
fi
if [ ! -s secrets/database_url ]; then
  printf 'postgres://lungtriage:%s@postgres:5432/lungtriage' "$(cat secrets/postgres_password)" > secrets/database_url
  echo "init-secrets: wrote secrets/database_url"
fi
# Compose (without Swarm) bind-mounts these files as they are: the containers' users (postgres, uid 1000) must read
# them. The folder itself stays private to you.
chmod 700 secrets
chmod 644 secrets/postgres_password secrets/database_url
