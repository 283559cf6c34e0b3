#!/usr/bin/env bash
# HTTP intake benchmark: `sandgate serve` on a loopback port, driven by wrk
# (Debian package wrk) with bench/http_scan.lua, for a 100 KB PDF, a 300 KB
# DOCX and a 2 MB zip of documents; then peak server RSS with 64 connections
# uploading 10 MB files. Fixtures are made here with python3.
#
#   bench/http_scan.sh [BUILD_DIR]      (default: build)
# Environment: DURATION (s, default 10), CONNS (default 32), THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
SANDGATE="$BUILD_DIR/gateway/sandgate"
WORK=$(mktemp -d /tmp/sg-bench-http.XXXXXX)
PORT=${PORT:-18025}
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

python3 - "$WORK" <<'PY'
import functools, io, os, random, sys, zipfile
sys.path.insert(0, "bench")
import bench_files
out = sys.argv[1]
rnd = random.Random(7)
pdf = functools.partial(bench_files.pdf, rnd)
docx = functools.partial(bench_files.docx, rnd)
open(os.path.join(out, "cv.pdf"), "wb").write(pdf(100 * 1024))
open(os.path.join(out, "cv.docx"), "wb").write(docx(300 * 1024))
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(10):
        z.writestr(f"doc{i}.pdf", pdf(100 * 1024)); z.writestr(f"doc{i}.docx", docx(100 * 1024))
open(os.path.join(out, "docs.zip"), "wb").write(b.getvalue())
open(os.path.join(out, "big.bin"), "wb").write(bytes(10 * 1024 * 1024))
PY

cat > "$WORK/sandgate.yaml" <<YAML
policy: $PWD/policies/default.yaml
data_dir: $WORK/var
http:
  listen: 127.0.0.1:$PORT
  limits: {max_body: 64MiB, max_in_flight: 128}
YAML
"$SANDGATE" serve --config "$WORK/sandgate.yaml" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

echo "== wrk -t$THREADS -c$CONNS -d${DURATION}s, keep-alive (machine: $(nproc) cores)"
for f in cv.pdf cv.docx docs.zip; do
  printf '%-9s %7d bytes: ' "$f" "$(stat -c %s "$WORK/$f")"
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s bench/http_scan.lua "http://127.0.0.1:$PORT" -- "$WORK/$f" "$f" | tail -1
done
# p99 at a fixed rate: bench/http_load (ours, built with the project) sends
# request k at start + k/RATE over CONNS keep-alive connections and measures
# latency from when each request was due (open loop, no coordinated
# omission). Default 256/s, about half of the 500 scans/s target for the
# 100 KB PDF. (`hey -q` is not used for this: all its workers tick together,
# so it sends bursts of CONNS requests, not a fixed rate.)
RATE=${RATE:-256}
# Start each run on an idle server: the closed-loop runs above leave a backlog
# of admitted requests that would count against the first fixed-rate run.
drain() {
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep -q '^sandgate_http_in_flight 0$' && break
    sleep 0.1
  done
  sleep 1
}
echo "== p99 at a fixed $RATE requests/s (http_load, $CONNS connections, ${DURATION}s), cv.pdf"
for run in 1 2 3 4 5; do
  drain
  "$BUILD_DIR/bench/http_load" "http://127.0.0.1:$PORT/v1/scan?filename=cv.pdf" "$WORK/cv.pdf" "$RATE" "$CONNS" "$DURATION" || true
done
echo "== 64 connections uploading 10 MB files (ab -c64 -n256), peak server RSS"
ab -q -c 64 -n 256 -p "$WORK/big.bin" -T application/octet-stream \
   "http://127.0.0.1:$PORT/v1/scan?filename=big.bin" | grep -E "Requests per second|Failed requests|Connect: |Non-2xx" || true
echo "peak RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2/1024 " MiB"}')"
