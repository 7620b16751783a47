#!/usr/bin/env bash
# What PostgreSQL alone gives chatcore's send, without chatcore-server: pgbench runs the
# send's statement (send.sql: one send per statement, as SEND_IN_ONE_STATEMENT in
# chatcore/src/messages/queries/send.rs) and the batched one (K sends per statement:
# SEND_TOGETHER, read from batch.rs, after the input query of send-batch-input.sql) against a
# chatcore database whose direct chats the load generator's `send` scenario created, one
# pgbench client per chat (or per K chats). Each transaction first reads its chats (a round
# trip, as the session check is one for a request). Prints sends per second for each shape.
#
#   bash benches/pgbench/statement.sh [seconds=8]
set -euo pipefail
duration=${1:-8}
server=${PGBENCH_SERVER:-postgres://postgres@127.0.0.1:5432}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-target}
cargo build --release -p chatcore-server -p chatcore-benches --bins
bin="$target/release"
db=chatcore_statement_$$
work=$(mktemp -d)
port=${PORT:-3998}
psql -q "$server/test" -c "CREATE DATABASE $db"
trap 'kill $chatcore 2>/dev/null; rm -rf "$work"; psql -q "$server/test" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
"$bin/chatcore-server" --bind "127.0.0.1:$port" --database-url "$server/$db" \
    --media-dir "$work/media" --log warn --no-rate-limits &
chatcore=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
# 128 direct chats with a few messages each.
"$bin/loadgen" --url "http://127.0.0.1:$port" --out "$work" --connections 128 --duration 2 \
    --scenario send >/dev/null
kill $chatcore
wait $chatcore 2>/dev/null || true
psql -q "$server/$db" -c "CREATE TABLE bench_pairs AS
    SELECT (row_number() OVER (ORDER BY m.chat_id) - 1)::int AS n, m.chat_id, m.user_id
    FROM chat_members m JOIN chats c ON c.id = m.chat_id
    WHERE c.kind = 'direct' AND m.user_id = c.created_by" -c "VACUUM ANALYZE"
# SEND_TOGETHER as chatcore runs it, its parameters filled in by the input query.
python3 - "$here/../../chatcore/src/messages/queries/batch.rs" "$here/send-batch-input.sql" \
    >"$work/send-batch.sql" <<'PY'
import re, sys
source = open(sys.argv[1]).read()
statement = re.search(r'const SEND_TOGETHER: &str = "(.*?)";\n', source, re.S).group(1)
statement = statement.replace("CAST($1 AS jsonb)", "CAST(:input AS jsonb)")
print(open(sys.argv[2]).read() + statement.replace("$2", "'message_created'") + ";")
PY
run() { # script, clients, sends per statement
    local tps
    tps=$(pgbench -n -M prepared -D "k=$3" -c "$2" -j 2 -T "$duration" -f "$1" \
        "$server/$db" 2>&1 | awk '/^tps/ {print $3}')
    printf '| %s | %s | %s | %.0f | %.0f |\n' "$(basename "$1")" "$2" "$3" "$tps" "$(echo "$tps * $3" | bc)"
}
echo "| script | clients | sends per statement | statements/s | sends/s |"
echo "|---|---|---|---|---|"
run "$here/send.sql" 32 1
run "$work/send-batch.sql" 32 1
run "$work/send-batch.sql" 32 4
run "$work/send-batch.sql" 4 8
run "$work/send-batch.sql" 2 16
run "$work/send-batch.sql" 1 32
