#!/usr/bin/env bash
# SMTP intake throughput: Postfix's smtp-source -> sandgate serve -> smtp-sink,
# all on loopback. Plain messages of SIZE bytes (default 20480) at each of the
# given session counts; prints messages/s per run.
#
#   bench/smtp_relay.sh [BUILD_DIR] [SIZE] [MESSAGES] [SESSIONS...]
#   e.g. bench/smtp_relay.sh build 20480 2000 1 8 32
#
# Needs the postfix package (smtp-source, smtp-sink). Uses ports 127.0.0.1:
# 12025 (sandgate SMTP), 12026 (sink), 12080 (sandgate HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; SIZE=${2:-20480}; COUNT=${3:-2000}; shift $(( $# > 3 ? 3 : $# )) || true
SESSIONS=("$@"); [ ${#SESSIONS[@]} -eq 0 ] && SESSIONS=(1 8 32)
TMP=$(mktemp -d); trap 'kill $SINK $GW 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
chmod 755 "$TMP"
smtp-sink -u postfix 127.0.0.1:12026 512 >/dev/null 2>&1 & SINK=$!
"$BUILD/gateway/sandgate" serve --http 127.0.0.1:12080 --smtp 127.0.0.1:12025 --next-hop 127.0.0.1:12026 \
  --data-dir "$TMP/data" 2>"$TMP/serve.log" & GW=$!
for _ in $(seq 50); do grep -q '"listening"' "$TMP/serve.log" 2>/dev/null && break; sleep 0.1; done
for s in "${SESSIONS[@]}"; do
  start=$(date +%s.%N)
  smtp-source -c -l "$SIZE" -m "$COUNT" -s "$s" -f bench@x.test -t sink@y.test 127.0.0.1:12025 >/dev/null
  end=$(date +%s.%N)
  relayed=$(grep -c '"reply":"250 ' "$TMP/serve.log" || true)
  printf 'size=%s sessions=%s messages=%s seconds=%.2f msg/s=%.0f (250s so far: %s)\n' "$SIZE" "$s" "$COUNT" \
    "$(echo "$end - $start" | bc)" "$(echo "$COUNT / ($end - $start)" | bc -l)" "$relayed"
done
grep -o '"action":"[a-z-]*","id":"[^"]*","reply":"[0-9]* [^"]*' "$TMP/serve.log" | sed 's/"id":"[^"]*",//; s/queued as [A-Z0-9]*//' | sort | uniq -c | head
echo "sandgate peak RSS: $(grep VmHWM /proc/$GW/status | awk '{print $2, $3}')"
