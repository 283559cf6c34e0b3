#!/usr/bin/env python3
# Scan throughput benchmark (issue 2, item 9). Generates a corpus of zips of
# documents in a temporary directory (each zip holds minimal .docx files and
# text PDFs of English-like prose, about 3:1 compressible), runs
# `sandgate scan` over all of it RUNS times in one process each, and prints
# files/s, objects/s and MB/s of unpacked bytes as the median of the runs.
#
# "Unpacked bytes" = the sum of `size` over every non-root object in the
# reports (each zip's entries, each docx's parts), i.e. every byte the engine
# had to produce by unpacking. MB = 10^6 bytes. Also printed: CPU time of the
# sandgate process and MB per CPU-second (less sensitive to a shared machine's
# load than wall time), and peak RSS (GNU time %M).
#
# usage: bench/scan_throughput.py [SANDGATE] [--zips N] [--runs N] [--keep DIR]
#        (SANDGATE defaults to build/gateway/sandgate)

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import fixtures as F  # noqa: E402  minimal_docx, minimal_pdf, prose


def build_corpus(directory, n_zips, seed=1):
    rnd = random.Random(seed)
    pool = F.prose(4 << 20, seed=seed).decode()  # slices of this differ beyond the 32 KiB window

    def text(n):
        off = rnd.randrange(0, len(pool) - n)
        return pool[off:off + n]

    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(n_zips):
        p = os.path.join(directory, "application-%04d.zip" % i)
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            for d in range(4):
                zf.writestr("documents/letter-%d.docx" % d,
                            F.minimal_docx(text(rnd.randint(150000, 250000)).encode()))
            for d in range(3):
                body = text(rnd.randint(80000, 160000)).replace("\n", " ")
                zf.writestr("documents/certificate-%d.pdf" % d, F.minimal_pdf(body))
            zf.writestr("cover-letter.txt", text(rnd.randint(2000, 8000)))
        paths.append(p)
    return paths


def run_once(sandgate, paths):
    """One `sandgate scan` over every path. Peak RSS from GNU time when
    installed (wait4 from Python would carry Python's own RSS high-water mark
    across fork+exec); CPU from the child's rusage."""
    use_time = os.access("/usr/bin/time", os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".time") as tf:
        cmd = (["/usr/bin/time", "-f", "%M", "-o", tf.name] if use_time else []) + [sandgate, "scan", *paths]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        rss = ru.ru_maxrss
        if use_time:
            lines = tf.read().split()
            rss = int(lines[-1]) if lines else rss
        out.seek(0)
        err.seek(0)
        reports = [json.loads(l) for l in out.read().decode().splitlines() if l.strip()]
        if proc.returncode not in (0, 1) or len(reports) != len(paths):
            sys.exit("sandgate failed (exit %d, %d reports for %d inputs): %s" % (
                proc.returncode, len(reports), len(paths), err.read().decode()[-2000:]))
    cpu = ru.ru_utime + ru.ru_stime
    objects = sum(len(r["objects"]) for r in reports)
    unpacked = sum(o["size"] for r in reports for o in r["objects"][1:])
    verdicts = {}
    for r in reports:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    return {"wall": wall, "cpu": cpu, "rss_kib": rss, "objects": objects, "unpacked": unpacked,
            "verdicts": verdicts, "limits": sorted({h for r in reports for h in r["limits"]["hit"]})}


def main():
    ap = argparse.ArgumentParser(description="sandgate scan throughput on a generated corpus")
    ap.add_argument("sandgate", nargs="?", default=os.path.join(ROOT, "build", "gateway", "sandgate"))
    ap.add_argument("--zips", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="build the corpus here and keep it")
    args = ap.parse_args()
    if not os.access(args.sandgate, os.X_OK):
        sys.exit("no sandgate binary at %s" % args.sandgate)

    tmp = args.keep or tempfile.mkdtemp(prefix="sandgate-bench-")
    try:
        t0 = time.monotonic()
        paths = build_corpus(os.path.join(tmp, "corpus"), args.zips)
        on_disk = sum(os.path.getsize(p) for p in paths)
        print("corpus: %d zips, %.1f MB on disk, built in %.1f s (%s)" % (
            len(paths), on_disk / 1e6, time.monotonic() - t0, tmp))
        runs = []
        for i in range(args.runs):
            r = run_once(args.sandgate, paths)
            runs.append(r)
            print("run %d: wall %.3f s (cpu %.3f s)  %6.1f files/s  %7.0f objects/s  %6.1f MB/s unpacked"
                  "  (%.1f MB per cpu-second)  peak RSS %.1f MiB" % (
                      i + 1, r["wall"], r["cpu"], len(paths) / r["wall"], r["objects"] / r["wall"],
                      r["unpacked"] / 1e6 / r["wall"], r["unpacked"] / 1e6 / r["cpu"], r["rss_kib"] / 1024.0))
        med = statistics.median(r["wall"] for r in runs)
        med_cpu = statistics.median(r["cpu"] for r in runs)
        last = runs[-1]
        print("objects per run: %d; unpacked bytes (non-root objects): %.1f MB; verdicts %s; limits hit %s" % (
            last["objects"], last["unpacked"] / 1e6, last["verdicts"], last["limits"] or "none"))
        print("MEDIAN of %d: wall %.3f s (cpu %.3f s)  %.1f files/s  %.0f objects/s  %.1f MB/s unpacked"
              "  (%.1f MB per cpu-second)  peak RSS %.1f MiB" % (
                  len(runs), med, med_cpu, len(paths) / med, last["objects"] / med,
                  last["unpacked"] / 1e6 / med, last["unpacked"] / 1e6 / med_cpu,
                  max(r["rss_kib"] for r in runs) / 1024.0))
        print("load average: %.2f %.2f %.2f on %d cores" % (os.getloadavg() + (os.cpu_count(),)))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
