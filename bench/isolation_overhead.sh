#!/usr/bin/env bash
# Isolation overhead: HTTP scan throughput of `sandgate serve` with its scan
# workers (the default) against `--no-isolation` (scans in the front process),
# same build, same files, same load (wrk + bench/http_scan.lua, closed loop).
# The two modes alternate for ROUNDS rounds so that drift on a shared machine
# hits both; prints each run, then per file the median requests/s of each mode
# and the overhead (1 - isolated/in-process).
#
#   bench/isolation_overhead.sh [BUILD_DIR]        (default: build)
# Environment: DURATION (s per run, default 8), ROUNDS (default 3),
# CONNS (default 16), THREADS (default 2), WORKERS (isolation.workers,
# default 0: cores + 1), FILES (default "cv.txt cv.pdf docs.zip").
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-0}
FILES=${FILES:-cv.txt cv.pdf docs.zip}
SANDGATE="$BUILD_DIR/gateway/sandgate"
WORK=$(mktemp -d /tmp/sg-bench-iso.XXXXXX)
PORT=${PORT:-18035}
SERVER=
trap 'stop; rm -rf "$WORK"' EXIT

python3 - "$WORK" <<'PY'
import functools, io, os, random, sys, zipfile
sys.path.insert(0, "bench")
import bench_files
out = sys.argv[1]
rnd = random.Random(7)
pdf = functools.partial(bench_files.pdf, rnd)
docx = functools.partial(bench_files.docx, rnd)
open(os.path.join(out, "cv.txt"), "wb").write(b"Jane Candidate\nExperience: ten years\n" * 20)
open(os.path.join(out, "cv.pdf"), "wb").write(pdf(100 * 1024))
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(10):
        z.writestr(f"doc{i}.pdf", pdf(50 * 1024))
open(os.path.join(out, "docs.zip"), "wb").write(b.getvalue())
PY

cat > "$WORK/sandgate.yaml" <<YAML
policy: $PWD/policies/default.yaml
data_dir: $WORK/var
http:
  listen: 127.0.0.1:$PORT
  limits: {max_body: 64MiB, max_in_flight: 128}
isolation: {workers: $WORKERS}
YAML

start() {  # start [--no-isolation]
  "$SANDGATE" serve --config "$WORK/sandgate.yaml" "$@" 2>"$WORK/serve.log" &
  SERVER=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  # Warm up (workers forked, caches filled) before measuring.
  for f in $FILES; do
    wrk -t1 -c4 -d1s -s bench/http_scan.lua "http://127.0.0.1:$PORT" -- "$WORK/$f" "$f" >/dev/null
  done
}
stop() {
  [ -n "$SERVER" ] || return 0
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  SERVER=
}

echo "== workers $WORKERS (0: cores + 1); wrk -t$THREADS -c$CONNS -d${DURATION}s x $ROUNDS rounds per mode (machine: $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
: >"$WORK/results"
for round in $(seq "$ROUNDS"); do
  for mode in isolated in-process; do
    if [ "$mode" = isolated ]; then start; else start --no-isolation; fi
    for f in $FILES; do
      line=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s bench/http_scan.lua \
               "http://127.0.0.1:$PORT" -- "$WORK/$f" "$f" | tail -1)
      rps=$(echo "$line" | sed -n 's/.*rps \([0-9.]*\).*/\1/p')
      printf 'round %s %-10s %-8s %s\n' "$round" "$mode" "$f" "$line"
      echo "$f $mode $rps" >>"$WORK/results"
    done
    stop
  done
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print("== medians (requests/s) and isolation overhead")
for f in dict.fromkeys(r[0] for r in rows):
    iso = statistics.median(float(r[2]) for r in rows if r[0] == f and r[1] == "isolated")
    inp = statistics.median(float(r[2]) for r in rows if r[0] == f and r[1] == "in-process")
    print("%-9s isolated %8.1f  in-process %8.1f  overhead %5.1f%%" % (f, iso, inp, 100 * (1 - iso / inp)))
PY
