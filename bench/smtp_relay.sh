#!/usr/bin/env bash
# SMTP intake throughput: Postfix's smtp-source -> sandgate serve -> smtp-sink,
# all on loopback. Plain messages of SIZE bytes (default 20480) at each of the
# given session counts; prints messages/s per run. Then a message with a
# 300 KB DOCX and one with a 1 MB zip of documents (smtp-source -F, a real
# .eml) at the same session counts, their latency at one session
# (bench/smtp_load.py), and peak RSS of the service with 100 concurrent
# sessions sending 10 MB messages.
#
#   bench/smtp_relay.sh [BUILD_DIR] [SIZE] [MESSAGES] [SESSIONS...]
#   e.g. bench/smtp_relay.sh build 10240 2000 1 8 32
#   POLICY=FILE bench/smtp_relay.sh ...   serves with that policy (e.g. the
#   shipped one without its `yara:` section, to see what YARA costs)
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
  --data-dir "$TMP/data" ${POLICY:+--policy "$POLICY"} 2>"$TMP/serve.log" & GW=$!
for _ in $(seq 50); do grep -q '"listening"' "$TMP/serve.log" 2>/dev/null && break; sleep 0.1; done
for s in "${SESSIONS[@]}"; do
  start=$(date +%s.%N)
  smtp-source -c -l "$SIZE" -m "$COUNT" -s "$s" -f bench@x.test -t sink@y.test 127.0.0.1:12025 >/dev/null
  end=$(date +%s.%N)
  relayed=$(grep -c '"reply":"250 ' "$TMP/serve.log" || true)
  printf 'size=%s sessions=%s messages=%s seconds=%.2f msg/s=%.0f (250s so far: %s)\n' "$SIZE" "$s" "$COUNT" \
    "$(echo "$end - $start" | bc)" "$(echo "$COUNT / ($end - $start)" | bc -l)" "$relayed"
done
python3 - "$TMP" <<'PY'
import io, os, random, sys, zipfile
from email.message import EmailMessage
out = sys.argv[1]
rnd = random.Random(5)
def docx(n):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' + "".join('<w:p><w:r><w:t>Line %d of the offer letter</w:t></w:r></w:p>' % i for i in range(2000)) + '</w:body></w:document>')
        z.writestr("word/media/image1.png", b"\x89PNG\r\n\x1a\n" + rnd.randbytes(n), zipfile.ZIP_STORED)
    return b.getvalue()
def mail(name, att, fname, mime):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "hr@x.test", "jane@y.test", "Offer"
    m.set_content("Please find the documents attached.\n")
    m.add_attachment(att, maintype=mime[0], subtype=mime[1], filename=fname)
    open(os.path.join(out, name), "wb").write(bytes(m))
mail("docx.eml", docx(280 * 1024), "offer.docx", ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document"))
b = io.BytesIO()
with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(6):
        z.writestr(f"doc{i}.docx", docx(150 * 1024))
mail("zip.eml", b.getvalue(), "documents.zip", ("application", "zip"))
mail("big.eml", rnd.randbytes(7 * 1024 * 1024), "scan.bin", ("application", "octet-stream"))  # ~10 MB as base64
PY
# Throughput with smtp-source -F (the generator costs ~0.5 ms CPU per message;
# smtp_load.py, in Python, costs ~5 ms and took a quarter of this machine),
# then latency percentiles from smtp_load.py at one session.
# Also where the CPU goes, per message: smtp-source, smtp-sink, the sandgate
# front and its scan workers (from /proc, over each run; a process's own time
# plus that of its children it has reaped, so recycled workers still count).
cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0; }
own_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
service_pids() { echo "$GW"; pgrep -P "$GW" || true; for c in $(pgrep -P "$GW"); do pgrep -P "$c" || true; done; }
for f in docx zip; do
  for s in "${SESSIONS[@]}"; do
    n=$(( COUNT / 4 ))
    declare -A before=()
    for p in $SINK $(service_pids); do before[$p]=$(cpu_ticks "$p"); done
    front_before=$(own_ticks "$GW")
    start=$(date +%s.%N)
    src_cpu=$( { /usr/bin/time -f '%U %S' smtp-source -F "$TMP/$f.eml" -m "$n" -s "$s" \
      -f bench@x.test -t sink@y.test 127.0.0.1:12025 >/dev/null; } 2>&1 | tail -1)
    end=$(date +%s.%N)
    front=$(( $(own_ticks "$GW") - front_before )); service=0
    for p in $(service_pids); do service=$(( service + $(cpu_ticks "$p") - ${before[$p]:-0} )); done
    # A worker that ended during the run is in its parent's reaped time whole:
    # take out what it had used before the run.
    for p in "${!before[@]}"; do
      [ "$p" = "$SINK" ] || [ -e "/proc/$p" ] || service=$(( service - ${before[$p]} ))
    done
    workers=$(( service - front ))
    sink=$(( $(cpu_ticks "$SINK") - ${before[$SINK]:-0} ))
    tick=$(getconf CLK_TCK)
    printf '%s.eml: sessions=%s messages=%s seconds=%.2f msg/s=%.0f | CPU ms/msg: source %.1f sink %.1f front %.1f workers %.1f\n' \
      "$f" "$s" "$n" "$(echo "$end - $start" | bc)" "$(echo "$n / ($end - $start)" | bc -l)" \
      "$(echo "($(echo "$src_cpu" | tr ' ' '+')) * 1000 / $n" | bc -l)" \
      "$(echo "$sink * 1000 / $tick / $n" | bc -l)" "$(echo "$front * 1000 / $tick / $n" | bc -l)" \
      "$(echo "$workers * 1000 / $tick / $n" | bc -l)"
  done
  python3 bench/smtp_load.py 127.0.0.1:12025 "$TMP/$f.eml" "$(( COUNT / 10 ))" 1 | sed "s/^/$f.eml latency: /"
done
python3 bench/smtp_load.py 127.0.0.1:12025 "$TMP/big.eml" 100 100 | sed "s/^/10 MB x 100 sessions: /"
grep -o '"action":"[a-z-]*","id":"[^"]*","reply":"[0-9]* [^"]*' "$TMP/serve.log" | sed 's/"id":"[^"]*",//; s/queued as [A-Z0-9]*//' | sort | uniq -c | head
echo "sandgate peak RSS: $(grep VmHWM /proc/$GW/status | awk '{print $2, $3}')"
