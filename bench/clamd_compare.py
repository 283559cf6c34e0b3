#!/usr/bin/env python3
# Side-by-side benchmark (issue 4): Sandgate over HTTP against ClamAV's clamd,
# in one run, on one machine, on the same mixed set of everyday files.
#
# Corpus (generated, about 300 files, ~25 MB): text PDFs, DOCX, gzip'd text,
# ELF binaries copied from /usr/bin, PNG images, HTML pages and JARs.
# clamd runs from Debian's clamav-daemon with a small signature database this
# script writes (a few MD5 and body signatures), listening on loopback TCP;
# 4 client threads stream every file with zINSTREAM. clamd's result cache
# (clean files are remembered by hash) is disabled, since every pass sends
# the same files and real mail traffic does not repeat like that. Sandgate runs
# `sandgate serve` with the shipped policy; 4 client threads POST every file to
# /v1/scan over keep-alive connections. Each side is timed over the whole set;
# the figure is files/s, median of RUNS passes, and the ratio.
#
# usage: bench/clamd_compare.py [SANDGATE] [--runs N] [--clients N]
#        (SANDGATE defaults to build/gateway/sandgate; needs /usr/sbin/clamd:
#         apt-get install clamav-daemon)
import argparse
import gzip
import hashlib
import http.client
import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import fixtures as F  # noqa: E402


def png(width, height, seed):
    rnd = random.Random(seed)
    raw = b"".join(b"\0" + bytes(rnd.randrange(256) for _ in range(width * 3)) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build_corpus(directory):
    rnd = random.Random(7)
    pool = F.prose(2 << 20, seed=3).decode()

    def text(n):
        off = rnd.randrange(0, len(pool) - n)
        return pool[off:off + n]

    files = []

    def put(name, data):
        p = os.path.join(directory, name)
        with open(p, "wb") as f:
            f.write(data)
        files.append(p)

    for i in range(60):
        put("paper-%02d.pdf" % i, F.minimal_pdf(text(rnd.randint(40000, 240000)).replace("\n", " ")))
    for i in range(60):
        put("letter-%02d.docx" % i, F.minimal_docx(text(rnd.randint(40000, 300000)).encode()))
    for i in range(40):
        put("log-%02d.txt.gz" % i, gzip.compress(text(rnd.randint(40000, 400000)).encode()))
    elves = [os.path.join("/usr/bin", n) for n in sorted(os.listdir("/usr/bin"))]
    elves = [p for p in elves if os.path.isfile(p) and 20000 < os.path.getsize(p) < 400000
             and open(p, "rb").read(4) == b"\x7fELF"][:40]
    for p in elves:
        put("bin-" + os.path.basename(p), open(p, "rb").read())
    for i in range(40):
        put("photo-%02d.png" % i, png(rnd.randint(60, 160), rnd.randint(60, 160), i))
    for i in range(40):
        body = "".join("<p>%s</p>\n" % line for line in text(rnd.randint(5000, 60000)).split("\n"))
        put("page-%02d.html" % i, ("<!doctype html><html><head><title>p</title></head><body>"
                                   + body + "</body></html>").encode())
    for i in range(20):
        p = os.path.join(directory, "lib-%02d.jar" % i)
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
            for k in range(rnd.randint(5, 30)):
                zf.writestr("com/example/C%d.class" % k,
                            b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + text(rnd.randint(500, 5000)).encode())
        files.append(p)
    return files


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def start_clamd(work, files):
    db = os.path.join(work, "db")
    os.makedirs(db)
    # A small custom database: MD5 signatures of two corpus files (so clamd has
    # something to find) and a few body signatures.
    with open(os.path.join(db, "bench.hdb"), "w") as f:
        for p in files[:2]:
            data = open(p, "rb").read()
            f.write("%s:%d:Bench.Known.%d\n" % (hashlib.md5(data).hexdigest(), len(data), len(data)))
    with open(os.path.join(db, "bench.ndb"), "w") as f:
        f.write("Bench.Script.Powershell:0:*:706f7765727368656c6c202d656e63\n")
        f.write("Bench.Script.Certutil:0:*:%s\n" % b"certutil -urlcache".hex())
        f.write("Bench.PE.Stub:1:*:546869732070726f6772616d2063616e6e6f742062652072756e\n")
    port = free_port()
    conf = os.path.join(work, "clamd.conf")
    with open(conf, "w") as f:
        f.write("Foreground yes\nTCPSocket %d\nTCPAddr 127.0.0.1\nDatabaseDirectory %s\n"
                "LogFile %s/clamd.log\nMaxThreads 4\nStreamMaxLength 100M\n"
                "User root\nDisableCache yes\n" % (port, db, work))
    proc = subprocess.Popen(["/usr/sbin/clamd", "-c", conf], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not wait_port(port, proc):
        proc.kill()
        raise SystemExit("clamd did not start; see %s/clamd.log" % work)
    return proc, port


def clamd_scan(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"zINSTREAM\0")
        with open(path, "rb") as f:
            while True:
                block = f.read(64 << 10)
                if not block:
                    break
                s.sendall(struct.pack(">I", len(block)) + block)
        s.sendall(struct.pack(">I", 0))
        reply = b""
        while not reply.endswith(b"\0"):
            part = s.recv(4096)
            if not part:
                break
            reply += part
    return reply.decode(errors="replace")


def start_sandgate(sandgate, work):
    port = free_port()
    proc = subprocess.Popen([sandgate, "serve", "--http", "127.0.0.1:%d" % port,
                             "--data-dir", os.path.join(work, "var"),
                             "--policy", os.path.join(ROOT, "policies", "default.yaml")],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "serve.log"), "w"))
    if not wait_port(port, proc):
        proc.kill()
        raise SystemExit("sandgate serve did not start; see %s/serve.log" % work)
    return proc, port


def run_clients(files, n_clients, make_worker):
    queue = list(files)
    lock = threading.Lock()
    errors = []

    def loop():
        work = make_worker()
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            try:
                work(path)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(repr(e))

    threads = [threading.Thread(target=loop) for _ in range(n_clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sandgate", nargs="?", default=os.path.join(ROOT, "build", "gateway", "sandgate"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    if not os.path.exists("/usr/sbin/clamd"):
        raise SystemExit("needs clamd: apt-get install clamav-daemon")
    work = tempfile.mkdtemp(prefix="sandgate-clamd-")
    corpus = os.path.join(work, "corpus")
    os.makedirs(corpus)
    files = build_corpus(corpus)
    total = sum(os.path.getsize(p) for p in files)
    print("corpus: %d files, %.1f MB (%s)" % (len(files), total / 1e6, corpus))
    clamd, cport = start_clamd(work, files)
    sg, sport = start_sandgate(os.path.abspath(args.sandgate), work)
    verdicts = {}

    def clamd_worker():
        return lambda p: clamd_scan(cport, p)

    def sandgate_worker():
        conn = http.client.HTTPConnection("127.0.0.1", sport, timeout=60)

        def scan(p):
            with open(p, "rb") as f:
                body = f.read()
            conn.request("POST", "/v1/scan?profile=mail&filename=" + os.path.basename(p), body,
                         {"Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise RuntimeError("HTTP %d" % r.status)
            m = re.search(rb'"verdict":"(\w+)"', data)
            verdicts[m.group(1).decode() if m else "?"] = verdicts.get(m.group(1).decode() if m else "?", 0) + 1
        return scan

    try:
        results = {"clamd": [], "sandgate": []}
        for run in range(args.runs):
            for name, worker in (("clamd", clamd_worker), ("sandgate", sandgate_worker)):
                wall, errors = run_clients(files, args.clients, worker)
                if errors:
                    print("%s errors: %d, first: %s" % (name, len(errors), errors[0]))
                rate = len(files) / wall
                results[name].append(rate)
                print("run %d %-8s %6.2f s  %7.1f files/s" % (run + 1, name, wall, rate))
        c = statistics.median(results["clamd"])
        s = statistics.median(results["sandgate"])
        print("MEDIAN clamd %.1f files/s, sandgate %.1f files/s, ratio sandgate/clamd %.2f"
              % (c, s, s / c))
        print("sandgate verdicts (all runs):", verdicts)
        print("load average: %.2f %.2f %.2f on %d cores" % (*os.getloadavg(), os.cpu_count()))
    finally:
        for p in (clamd, sg):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
