#!/usr/bin/env bash
# The single-row insert rate pgbench reaches on the local PostgreSQL at a given concurrency,
# in a fresh database dropped afterwards: the reference for chatcore's send on PostgreSQL.
#
#   bash benches/pgbench/run.sh [clients=32] [seconds=10]
set -euo pipefail
clients=${1:-32}
duration=${2:-10}
server=${PGBENCH_SERVER:-postgres://postgres@127.0.0.1:5432}
here=$(cd "$(dirname "$0")" && pwd)
db=chatcore_pgbench_$$
psql -q "$server/test" -c "CREATE DATABASE $db"
trap 'psql -q "$server/test" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
psql -q "$server/$db" -c "CREATE TABLE messages (
    id uuid PRIMARY KEY,
    chat_id uuid NOT NULL,
    seq bigint NOT NULL,
    text text,
    created_at timestamptz NOT NULL DEFAULT now())"
pgbench -n -c "$clients" -j 2 -T "$duration" -f "$here/insert.sql" "$server/$db"
