#!/usr/bin/env python3
"""SMTP load: send one .eml file MESSAGES times over SESSIONS concurrent SMTP
sessions (one connection per session, reused for its messages: MAIL, RCPT,
DATA, then RSET-free next transaction, as an MTA does) and print messages/s
and latency percentiles of the end-of-data reply. Only 250 replies count as
delivered; anything else is counted and shown.

  bench/smtp_load.py HOST:PORT FILE.eml MESSAGES SESSIONS

smtp-source (Postfix) generates its own content, so this sends real
attachments (bench/smtp_relay.sh builds the DOCX and zip messages).
"""
import smtplib
import statistics
import sys
import threading
import time


def main():
    hostport, path, total, sessions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    host, port = hostport.rsplit(":", 1)
    with open(path, "rb") as f:
        data = f.read()
    lock = threading.Lock()
    left = [total]
    latencies, failures = [], {}

    def worker():
        s = smtplib.SMTP(host, int(port), timeout=120)
        s.ehlo("bench.test")
        try:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                t0 = time.perf_counter()
                try:
                    s.sendmail("bench@x.test", ["sink@y.test"], data)
                    ok = True
                except smtplib.SMTPResponseException as e:
                    ok, why = False, f"{e.smtp_code} {e.smtp_error[:60]!r}"
                except smtplib.SMTPRecipientsRefused as e:
                    ok, why = False, f"recipients refused {str(e)[:60]}"
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        failures[why] = failures.get(why, 0) + 1
        finally:
            try:
                s.quit()
            except Exception:
                pass

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    lat = sorted(latencies)
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    print(f"messages {total} size {len(data)} sessions {sessions}: delivered {len(lat)} in {wall:.2f} s, "
          f"{len(lat) / wall:.0f} msg/s; latency ms p50 {p(0.5):.1f} p99 {p(0.99):.1f} "
          f"median {statistics.median(lat) * 1000 if lat else 0:.1f}"
          + (f"; NOT delivered: {failures}" if failures else ""))


if __name__ == "__main__":
    main()
