#!/usr/bin/env bash
# Creates docker/secrets/ for compose.yml, once: random passwords and tokens, and the database URLs built from them.
# Existing files are kept. The folder is git-ignored (docker/.gitignore); never commit it.
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
random() { head -c "$1" /dev/urandom | base64 | tr -d '/+=\n'; }
make() { # make <file> <content>: writes the file unless it exists
  if [ ! -s "secrets/$1" ]; then
    printf '%s' "$2" > "secrets/$1"
    echo "init-secrets: wrote secrets/$1"
  fi
}
make postgres_password "$(random 24)"
make app_db_password "$(random 24)"
# The owner (migrations, a separate one-shot step) and the gateway's least-privilege login (docker/postgres/init-app-role.sh).
make database_url "$(printf 'postgres://lungtriage:%s@postgres:5432/lungtriage' "$(cat secrets/postgres_password)")"
make app_database_url "$(printf 'postgres://lungtriage_gateway:%s@postgres:5432/lungtriage' "$(cat secrets/app_db_password)")"
# Keys the audit chain and signs its checkpoints (LT_AUDIT_KEY): never in the database.
make audit_key "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# TriageService for hospital IT (reader, operator, auditor): give this token to the IT client.
make grpc_auth_tokens "$(random 32)"
# Gateway ↔ worker.
make worker_auth_token "$(random 32)"
# Orthanc's STOW-RS to the gateway (a sender): the password Orthanc sends, and the gateway's user:password entry.
make stow_password "$(random 24)"
make stow_users "orthanc:$(cat secrets/stow_password)"
# Compose (without Swarm) bind-mounts these files as they are: the containers' users (postgres, orthanc, uid 1000)
# must read them. The folder itself stays private to you.
chmod 700 secrets
chmod 644 secrets/*
