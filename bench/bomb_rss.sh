#!/bin/bash
# Bomb benchmark (issue 2, item 9): wall time and peak RSS of `sandgate scan`
# on decompression bombs. The main case is a 1 GB-nominal single-entry zip
# made by Info-ZIP from a stream of zeros (about 1 MB on disk); the others
# come from tests/e2e/fixtures.py: a 1 GiB gzip stream, a 42.zip-style
# recursive zip (4 TiB nominal) and Fifield's quoted-overlap zip (1000 entries
# over one 100 MiB kernel). Target: each under 2 s and 64 MiB peak RSS.
# Peak RSS and CPU come from /usr/bin/time -v when present, else from wait4 in
# Python. Wall time on a shared machine reflects its load; CPU time does less.
#
# usage: bench/bomb_rss.sh [SANDGATE]   (default build/gateway/sandgate)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
sandgate=${1:-$root/build/gateway/sandgate}
[ -x "$sandgate" ] || { echo "no sandgate binary at $sandgate" >&2; exit 2; }

tmp=$(mktemp -d /tmp/sandgate-bomb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "building bombs in $tmp ..."
head -c 1000000000 /dev/zero | zip -q -9 "$tmp/bomb-1gb.zip" -
PYTHONPATH="$root/tests/e2e" python3 - "$tmp" <<'EOF'
import sys, fixtures as F
d = sys.argv[1]
open(d + "/bomb-1gib.gz", "wb").write(F.gzip_bomb(1024))
open(d + "/bomb-42.zip", "wb").write(F.recursive_bomb(levels=4, fanout=16, leaf_mib=64))
open(d + "/bomb-overlap.zip", "wb").write(F.overlap_bomb_quoted(1000, 100))
EOF

measure() {  # measure FILE -> prints "exit wall_s cpu_s maxrss_kib"
  local f=$1
  if [ -x /usr/bin/time ]; then
    local rc=0
    /usr/bin/time -v -o "$tmp/time.txt" "$sandgate" scan "$f" >"$tmp/report.json" 2>"$tmp/stderr.txt" || rc=$?
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time.txt" |
           awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
    cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {print s}' "$tmp/time.txt")
    echo "$rc $wall $cpu $rss"
  else
    python3 - "$sandgate" "$f" "$tmp/report.json" <<'EOF'
import os, subprocess, sys, time
with open(sys.argv[3], "wb") as out:
    t = time.monotonic()
    p = subprocess.Popen([sys.argv[1], "scan", sys.argv[2]], stdout=out, stderr=subprocess.DEVNULL)
    _, st, ru = os.wait4(p.pid, 0)
    # Note: ru_maxrss here includes this Python's own RSS high-water mark
    # (carried across fork+exec); install GNU time for the exact figure.
    print(os.waitstatus_to_exitcode(st), "%.3f" % (time.monotonic() - t),
          "%.2f" % (ru.ru_utime + ru.ru_stime), ru.ru_maxrss)
EOF
  fi
}

summary() {  # verdict and limit findings from the report
  python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
ids = sorted({f["id"] for o in r["objects"] for f in o["findings"] if f["id"].startswith(("limits.", "archive.", "unpack."))})
print(r["verdict"], len(r["objects"]), "objects", ",".join(ids) or "-")' "$1"
}

printf '%-20s %10s %5s %8s %8s %12s  %s\n' input on-disk exit wall_s cpu_s peak_rss_MiB "verdict / findings"
for f in bomb-1gb.zip bomb-1gib.gz bomb-42.zip bomb-overlap.zip; do
  read -r rc wall cpu rss < <(measure "$tmp/$f")
  printf '%-20s %10s %5s %8s %8s %12.1f  %s\n' "$f" "$(stat -c %s "$tmp/$f")" "$rc" "$wall" "$cpu" \
    "$(echo "$rss / 1024" | bc -l)" "$(summary "$tmp/report.json" 2>/dev/null || echo 'no report')"
done
