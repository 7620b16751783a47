#!/usr/bin/env bash
# One load run of every scenario against a fresh chatcore-server on an SQLite file
# (synchronous=FULL), server and load generator on the same machine. Reports go to
# $OUT (default target/loadgen): <scenario>.json, .md and .svg, and summary.md.
#
#   bash benches/load.sh [connections=32] [seconds=5]
set -euo pipefail
connections=${1:-32}
duration=${2:-5}
target=${CARGO_TARGET_DIR:-target}
out=${OUT:-target/loadgen}
cargo build --release -p chatcore-server -p chatcore-benches --bins
bin="$target/release"
work=$(mktemp -d)
port=${PORT:-3999}
url="http://127.0.0.1:$port"
"$bin/chatcore-server" --bind "127.0.0.1:$port" --database-url "sqlite:$work/chat.db" \
    --media-dir "$work/media" --log warn --no-rate-limits &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "$url/healthz" >/dev/null; do sleep 0.2; done
mkdir -p "$out"
run() {
    "$bin/loadgen" --url "$url" --out "$out" --connections "$connections" --duration "$duration" "$@" >/dev/null
}
for scenario in healthz send history chats login mixed login-storm argon2; do
    run --scenario "$scenario"
done
# The chat list of a user in 5,000 chats: a page should cost what it costs with 500.
cp "$out/chats.json" "$out/chats-500.json"
run --scenario chats --chats 5000
mv "$out/chats.json" "$out/chats-5000.json"
mv "$out/chats-500.json" "$out/chats.json"
# Fan-out at the rate one sender reaches, then at half of it (the latency target's rate).
run --scenario fanout --subscribers 1000
cp "$out/fanout.json" "$out/fanout-max.json"
half=$(python3 -c "import json; d=json.load(open('$out/fanout-max.json')); print(max(1, int(d['extra'].get('sends_per_s', 0) / 2)))")
run --scenario fanout --subscribers 1000 --rate "$half"
cp "$out/fanout.json" "$out/fanout-half.json"
# The same over Socket.IO (Engine.IO over WebSocket, events pushed as `message add`).
run --scenario fanout --subscribers 1000 --transport socketio
cp "$out/fanout.json" "$out/fanout-socketio-max.json"
half=$(python3 -c "import json; d=json.load(open('$out/fanout-socketio-max.json')); print(max(1, int(d['extra'].get('sends_per_s', 0) / 2)))")
run --scenario fanout --subscribers 1000 --rate "$half" --transport socketio
cp "$out/fanout.json" "$out/fanout-socketio-half.json"
"$bin/loadgen" --url "$url" --out "$out" --duration "$duration" --scenario idle \
    --connections 10000 --users 1250 --server-pid "$server" >/dev/null
# 8 clients uploading the costliest avatar inside the pixel budget; the server's peak RSS.
"$bin/loadgen" --url "$url" --out "$out" --duration "$duration" --scenario avatar \
    --connections 8 --server-pid "$server" >/dev/null
python3 - "$out" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
def load(name):
    return json.loads((out / f"{name}.json").read_text())
healthz = load("healthz")["throughput"]
rows = ["| scenario | throughput | share of healthz | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
for name in ["healthz", "send", "history", "chats", "chats-5000", "login", "mixed", "login-storm", "argon2", "fanout-max", "fanout-half", "idle", "avatar"]:
    d = load(name)
    share = f"{100 * d['throughput'] / healthz:.1f}%" if d["throughput_unit"] == "req/s" else ""
    rows.append(f"| {name} | {d['throughput']:,.0f} {d['throughput_unit']} | {share} | {d['latency_ms']['p50']:.2f} | {d['latency_ms']['p99']:.2f} | {d['errors']} |")
extras = [f"- {name}: {json.dumps(load(name)['extra'])}" for name in ["login-storm", "argon2", "fanout-max", "fanout-half", "idle", "avatar"]]
(out / "summary.md").write_text("\n".join(rows) + "\n\n" + "\n".join(extras) + "\n")
print((out / "summary.md").read_text())
PY
