#!/usr/bin/env bash
# Where a scenario's instructions go: a fresh chatcore-server on an SQLite file under
# valgrind's callgrind, driven by the load generator (4 connections, 20 s by default), then
# callgrind_annotate's inclusive and self listings. Valgrind runs the server some 50 times
# slower and counts instructions, not time: it shows what the server's code costs per
# request, not the kernel's share (sockets, fsync), which `vmstat` shows.
#
#   bash benches/callgrind.sh <scenario> [loadgen arguments...]
#   e.g. bash benches/callgrind.sh history
#        bash benches/callgrind.sh fanout --subscribers 100
#
# Reports go to $OUT (default target/callgrind/<scenario>): cg.out, inclusive.txt, self.txt.
set -euo pipefail
scenario=$1
shift
target=${CARGO_TARGET_DIR:-target}
out=${OUT:-target/callgrind/$scenario}
command -v valgrind >/dev/null || {
    echo "callgrind.sh needs valgrind (apt-get install valgrind)" >&2
    exit 1
}
cargo build --release -p chatcore-server -p chatcore-benches --bins
bin="$target/release"
work=$(mktemp -d)
port=${PORT:-3995}
url="http://127.0.0.1:$port"
mkdir -p "$out"
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$bin/chatcore-server" \
    --bind "127.0.0.1:$port" --database-url "sqlite:$work/chat.db" --media-dir "$work/media" \
    --log warn --no-rate-limits 2>"$out/valgrind.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "$url/healthz" >/dev/null; do sleep 1; done
"$bin/loadgen" --url "$url" --out "$out" --connections "${CONNECTIONS:-4}" \
    --duration "${SECONDS_RUN:-20}" --scenario "$scenario" "$@" >/dev/null
# A graceful stop writes the profile.
kill -TERM $server
wait $server || true
trap 'rm -rf "$work"' EXIT
python3 -c "import json; d=json.load(open('$out/$scenario.json')); print('$scenario:', d['count'], 'requests (fanout: deliveries)')"
callgrind_annotate --inclusive=yes "$out/cg.out" >"$out/inclusive.txt" 2>/dev/null
callgrind_annotate "$out/cg.out" >"$out/self.txt" 2>/dev/null
echo "profiles: $out/inclusive.txt, $out/self.txt"
