#!/bin/sh
# bench/office_bench.sh: what `sandgate scan` spends on a 2 MB DOCX (and a
# DOCM with a 20-module VBA project): unpacking, typing, hashing, every
# analyzer, the policy. Two figures per file and policy (built-in, and the
# shipped policy's upload profile, which adds the YARA rules):
#  - CPU ms per scan: one process scans the file N times and once; the
#    difference in user+sys time over N-1 (start-up and policy loading cancel
#    out). Robust on a loaded machine.
#  - median duration_ms the engine reports over those N scans (wall time:
#    inflated when other jobs compete for the cores).
#
# Third figure: build/bench/docx_bench on the same files, the document's own
# analysis path without the report's digests, the policy or YARA.
#
# usage: bench/office_bench.sh [path/to/sandgate] [runs]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
sandgate=${1:-$root/build/gateway/sandgate}
runs=${2:-21}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" "$root" <<'PY'
import os, random, sys, zipfile
sys.path.insert(0, os.path.join(sys.argv[2], "tests", "e2e"))
import test_office as T
out = sys.argv[1]
rnd = random.Random(8)
words = ["experience", "project", "team", "delivered", "customer", "quality", "python", "design",
         "managed", "budget", "analysis", "report", "Berlin", "2019", "lead", "system"]
paras = []
for i in range(9000):
    text = " ".join(rnd.choice(words) for _ in range(18))
    paras.append('<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">%s</w:t></w:r></w:p>' % text)
    if i % 500 == 0:
        paras.append('<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>')
doc = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
       + "".join(paras) + "</w:body></w:document>").encode()
image = rnd.randbytes(1_700_000)  # incompressible: the package ends near 2 MB
image = b"\x89PNG\r\n\x1a\n" + image
extra = {"word/document.xml": doc, "word/media/image1.png": image}
T.make_docx(os.path.join(out, "cv.docx"), extra)
vba = T.cfb(T.vba_project({"Module%d" % i: "Sub Report%d()\r\n" % i + "  x = x + 1\r\n" * 400 + "End Sub\r\n" for i in range(20)}))
T.make_docx(os.path.join(out, "cv.docm"), dict(extra, **{"word/vbaProject.bin": vba}), content_types=T.CT_DOCM)
PY

measure() {  # file [scan args...]
  python3 - "$sandgate" "$runs" "$@" <<'PY'
import json, os, statistics, subprocess, sys
sandgate, runs, f, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
def run(n):
    p = subprocess.Popen([sandgate, "scan", *args] + [f] * n, stdout=subprocess.PIPE)
    out = p.stdout.read()
    _, _, ru = os.wait4(p.pid, 0)
    return ru.ru_utime + ru.ru_stime, [json.loads(l)["duration_ms"] for l in out.splitlines()]
best_one = min(run(1)[0] for _ in range(3))
cpu_n, durations = run(runs)
per_scan = max(0.0, (cpu_n - best_one) / (runs - 1)) * 1000
print("cpu_ms_per_scan=%.2f median_duration_ms=%.2f" % (per_scan, statistics.median(durations[1:])))
PY
}

docx_bench=${DOCX_BENCH:-$(dirname "$(dirname "$sandgate")")/bench/docx_bench}
for f in cv.docx cv.docm; do
  size=$(wc -c < "$tmp/$f")
  echo "$f ($size bytes):"
  # The document's own analysis (unpack, typing, analyzers; no digests, policy
  # or YARA), like the PDF figure of bench/pdf_bench.
  if [ -x "$docx_bench" ]; then echo "  $("$docx_bench" "$tmp/$f" 31)"; fi
  echo "  whole scans, $runs in one process:"
  echo "  builtin policy:        $(measure "$tmp/$f")"
  echo "  shipped upload policy: $(measure "$tmp/$f" --policy "$root/policies/default.yaml" --profile upload)"
done
