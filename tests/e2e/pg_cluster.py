#!/usr/bin/env python3
# A throwaway PostgreSQL cluster for end-to-end tests (the Python twin of
# tests/gateway/quarantine/pg_cluster.h): initdb into a fresh directory under
# /tmp, a server on a Unix socket in that directory only (no TCP), trust
# authentication for the role "sandgate", everything removed by stop()/close().
# PostgreSQL refuses to run as root, so as root the server runs as "postgres".
#
#     with PgCluster() as pg:            # raises unittest.SkipTest when absent
#         pg.create_database("q")
#         conninfo = pg.conninfo("q")    # for `quarantine: postgresql:`
#         pg.psql("q", "SELECT 1")       # -> stdout text; raises on SQL error
#         pg.stop_immediate(); pg.restart()
#
# Binaries: $SANDGATE_PG_BIN, else the newest /usr/lib/postgresql/N/bin.
import os
import pwd
import shutil
import subprocess
import tempfile
import unittest


def find_bin_dir():
    env = os.environ.get("SANDGATE_PG_BIN")
    candidates = [env] if env else []
    root = "/usr/lib/postgresql"
    if not env and os.path.isdir(root):
        versions = sorted((v for v in os.listdir(root) if v.isdigit()), key=int, reverse=True)
        candidates += [os.path.join(root, v, "bin") for v in versions]
    for d in candidates:
        if all(os.access(os.path.join(d, t), os.X_OK) for t in ("initdb", "pg_ctl", "psql")):
            return d
    return None


SKIP_REASON = ("PostgreSQL server binaries not found (install Debian's postgresql package or "
               "set SANDGATE_PG_BIN to the directory holding initdb, pg_ctl and psql)")


class PgError(RuntimeError):
    pass


class PgCluster:
    def __init__(self):
        self.bin = find_bin_dir()
        if not self.bin:
            raise unittest.SkipTest(SKIP_REASON)
        self.as_postgres = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="sandgate-pg-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if self.as_postgres:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise unittest.SkipTest("running as root and there is no 'postgres' user")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.running = False
        try:
            self._server(["initdb", "-D", self.data, "-U", "sandgate", "--auth=trust",
                          "-E", "UTF8", "--no-sync"])
            self.restart()
        except Exception:
            self.close()
            raise

    def _server(self, argv, check=True):
        """Runs a server tool (as postgres when we are root)."""
        cmd = [os.path.join(self.bin, argv[0])] + argv[1:]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, cwd=self.dir, capture_output=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            log = ""
            try:
                with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                    log = f.read()[-2000:]
            except OSError:
                pass
            raise PgError("%s failed (%d): %s %s\n%s" % (argv[0], p.returncode, p.stdout.decode(
                errors="replace"), p.stderr.decode(errors="replace"), log))
        return p

    def restart(self):
        self._server(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                      "-w", "-t", "60", "-o",
                      "-k %s -c listen_addresses='' -c fsync=off" % self.dir, "start"])
        self.running = True

    def stop_immediate(self):
        """Kills the server as a crash would (database-down tests)."""
        self._server(["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"])
        self.running = False

    def conninfo(self, dbname="postgres", user="sandgate"):
        """libpq connection string; "sandgate" is the superuser initdb made."""
        return "host=%s user=%s dbname=%s" % (self.dir, user, dbname)

    def psql(self, dbname, sql, user="sandgate"):
        """Runs SQL (psql -c); returns stdout (unaligned, tuples only). Raises PgError."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(dbname, user),
                            "-c", sql],
                           capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise PgError(p.stderr.decode(errors="replace"))
        return p.stdout.decode()

    def create_database(self, name):
        self.psql("postgres", "CREATE DATABASE %s" % name)

    def close(self):
        if self.running:
            self._server(["pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"], check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    stop = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
