"""The drills' private stack: PostgreSQL, Redis, the Plivo simulator, gunicorn, Celery workers and beat.

Drills restart the database and the broker, so nothing here may be shared with anyone: PostgreSQL is a
fresh cluster (initdb) in a temporary folder and Redis a child process without persistence, each on a port
of its own. Every process runs in a session of its own, so that a SIGKILL takes a worker down whole; all of
them are stopped when the stack closes, whatever happened.
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

from campaigns.quiet_hours_rules import WITHOUT_LOCAL_RULES
from sends.simulator import DEMO_AUTH_ID, DEMO_AUTH_TOKEN

ROOT = Path(__file__).resolve().parent.parent
SENDER = "+14155550100"
# PostgreSQL refuses to run as root; as root the cluster belongs to (and runs as) this account.
POSTGRES_OS_USER = "postgres"


class StackError(RuntimeError):
    """A part of the stack could not be started; the message says which and why."""


@dataclass(frozen=True)
class Ports:
    postgres: int
    redis: int
    simulator: int
    web: int
    nowhere: int  # nothing listens here: status callbacks of the send drills go to it and are dropped

    @classmethod
    def from_base(cls, base: int) -> "Ports":
        return cls(postgres=base + 1, redis=base + 2, simulator=base + 3, web=base + 4, nowhere=base + 9)


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: DRILLS_PG_BIN, else PATH, else the newest /usr/lib/postgresql/*/bin."""
    if configured := os.environ.get("DRILLS_PG_BIN"):
        return Path(configured)
    if found := shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def missing_tools() -> list[str]:
    """What this machine lacks to run the drills (empty when nothing is missing)."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl; set DRILLS_PG_BIN)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            missing.append(f"an OS user {POSTGRES_OS_USER!r} to run PostgreSQL as (it refuses root)")
    return missing


def free_base_port(start: int = 20000, stop: int = 60000) -> int:
    """A base port whose base+1 .. base+9 nobody listens on right now (for a run beside other stacks)."""
    import random
    import socket

    for _ in range(200):
        base = random.randrange(start, stop, 10)
        try:
            for port in range(base + 1, base + 10):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise StackError(f"no ten free ports found between {start} and {stop}")


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if value := predicate():
                return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Process:
    """One child process in a session of its own, its output in a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict, log_dir: Path, cwd: Path = ROOT, user=None):
        self.name, self.command, self.env, self.cwd = name, command, env, cwd
        self.log_path = log_dir / f"{name}.log"
        self.user = user
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Process":
        log = self.log_path.open("ab")
        command = ["runuser", "-u", self.user, "--", *self.command] if self.user else self.command
        self.popen = subprocess.Popen(
            command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and everything it started, the way a machine dies."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class Stack:
    """Start with `with Stack(base_port=8450) as stack:`; every process is gone when the block ends."""

    def __init__(self, *, base_port: int, keep_dir: bool = False):
        self.ports = Ports.from_base(base_port)
        self.keep_dir = keep_dir
        self.dir = Path(tempfile.mkdtemp(prefix="smscampaigns-drills-"))
        self.log_dir = self.dir / "logs"
        self.log_dir.mkdir()
        (self.dir / "var").mkdir()
        self.pg_dir = self.dir / "postgres"
        self.processes: list[Process] = []
        self.postgres_running = False
        self.database_url = f"postgres://postgres@127.0.0.1:{self.ports.postgres}/drills"
        self.redis_url = f"redis://127.0.0.1:{self.ports.redis}/0"
        self.simulator_url = f"http://127.0.0.1:{self.ports.simulator}"
        self.web_url = f"http://127.0.0.1:{self.ports.web}"
        self.redis: Process | None = None
        self.workers: dict[str, Process] = {}
        self.beat: Process | None = None
        self.http = requests.Session()

    # --- the environment every Django process of the stack shares -------------------------------------

    def django_env(self, **overrides: str) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))},
            "DJANGO_SETTINGS_MODULE": "smscampaigns.settings",
            # A developer's .env (DEBUG on, the embedded database) is not this stack's.
            "ENV_FILE": "",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DEBUG": "false",
            "SECRET_KEY": "drills-only-secret-key-not-used-for-anything-real-0123456789",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_MANIFEST": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "VAR_DIR": str(self.dir / "var"),
            "LOG_LEVEL": "WARNING",
            "SMS_BACKEND": "sends.backends.plivo.SmsBackend",
            "PLIVO_API_URL": self.simulator_url,
            "PLIVO_AUTH_ID": DEMO_AUTH_ID,
            "PLIVO_AUTH_TOKEN": DEMO_AUTH_TOKEN,
            "PLIVO_SENDER": SENDER,
            "PUBLIC_BASE_URL": self.web_url,
            # The simulator over plain http on loopback: a production stack that must text nobody.
            "SMS_DELIVERY_REQUIRED": "false",
            # Real time runs on: let every hour be a sending hour.
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "23:59:59.999999",
            "QUIET_HOURS_RULES": WITHOUT_LOCAL_RULES,
            **overrides,
        }

    def _process(self, name: str, command: list[str], env: dict | None = None, user=None) -> Process:
        process = Process(name, command, env=env or self.django_env(), log_dir=self.log_dir, user=user)
        self.processes.append(process)
        return process.start()

    # --- PostgreSQL -----------------------------------------------------------------------------------

    def _pg(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(postgres_bin_dir() / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_OS_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
        if check and result.returncode != 0:
            raise StackError(f"{tool} {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def postgres_init(self) -> None:
        self.pg_dir.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_OS_USER)
            os.chown(self.dir, account.pw_uid, account.pw_gid)  # so that postgres can reach its folder
            os.chown(self.pg_dir, account.pw_uid, account.pw_gid)
        self._pg("initdb", "-D", str(self.pg_dir), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        self.postgres_start()
        with psycopg.connect(self.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE drills")

    def postgres_start(self) -> None:
        # fsync off: only an operating-system crash could lose data, and the cluster is thrown away.
        options = (
            f"-p {self.ports.postgres} -c listen_addresses=127.0.0.1 -k {self.pg_dir} -c fsync=off "
            "-c max_connections=200"
        )
        self._pg("pg_ctl", "-D", str(self.pg_dir), "-l", str(self.pg_dir / "server.log"), "-o", options, "-w", "start")
        self.postgres_running = True

    def postgres_stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.pg_dir), "-m", mode, "-w", "stop")
        self.postgres_running = False

    # --- Redis ----------------------------------------------------------------------------------------

    def redis_start(self) -> None:
        command = ["redis-server", "--port", str(self.ports.redis), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.dir)]  # fmt: skip
        self.redis = self._process("redis", command, env=dict(os.environ))
        wait_until(self.redis_ping, timeout=20, what="redis-server to answer")

    def redis_ping(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def redis_stop(self) -> None:
        if self.redis is not None:
            self.redis.kill()

    def redis_flush(self) -> None:
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()

    # --- simulator, web, workers, beat ------------------------------------------------------------------

    def simulator_start(self) -> None:
        command = [sys.executable, "manage.py", "plivo_simulator", "--port", str(self.ports.simulator),
                   "--app-url", self.web_url]  # fmt: skip
        self._process("simulator", command)
        wait_until(
            lambda: self.http.get(f"{self.simulator_url}/_sim/stats", timeout=2).ok, timeout=60, what="the simulator"
        )

    def web_start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                   "--bind", f"127.0.0.1:{self.ports.web}", "--access-logfile", "/dev/null",
                   "--max-requests", "0", "--no-control-socket", "smscampaigns.wsgi:application"]  # fmt: skip
        env = self.django_env(WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"), WEB_THREADS="8")
        web = self._process("web", command, env=env)
        wait_until(
            lambda: web.running and self.http.get(f"{self.web_url}/healthz", timeout=2).status_code == 200,
            timeout=90,
            what=f"gunicorn on {self.web_url}/healthz\n{web.tail()}",
        )

    def worker_start(self, name: str, **env: str) -> Process:
        command = [sys.executable, "-m", "celery", "-A", "smscampaigns", "worker", "--pool", "solo",
                   "--hostname", f"{name}@drills", "--without-gossip", "--without-mingle", "--without-heartbeat",
                   "--loglevel", "WARNING"]  # fmt: skip
        self.workers[name] = self._process(f"worker-{name}", command, env=self.django_env(**env))
        return self.workers[name]

    def beat_start(self, **env: str) -> None:
        schedule = self.dir / "var" / "celerybeat-schedule"
        schedule.unlink(missing_ok=True)
        command = [sys.executable, "-m", "celery", "-A", "smscampaigns", "beat", "--schedule", str(schedule),
                   "--loglevel", "WARNING"]  # fmt: skip
        self.beat = self._process("beat", command, env=self.django_env(**env))

    def engine_stop(self) -> None:
        """Stop the workers and beat of a drill (the next drill starts its own, with its own settings)."""
        for process in [*self.workers.values(), self.beat]:
            if process is not None:
                process.stop()
        self.workers.clear()
        self.beat = None

    # --- the witnesses ----------------------------------------------------------------------------------

    def sim(self, method: str, route: str, **kwargs):
        response = self.http.request(method, f"{self.simulator_url}/_sim/{route}", timeout=60, **kwargs)
        response.raise_for_status()
        return response.json()

    def sql(self, query: str, params=()) -> list[tuple]:
        """Run one query on a connection of its own, so that a restart of PostgreSQL leaves nothing stale."""
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()

    def logs(self, chars: int = 2000) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(chars)}" for p in self.processes if p.tail(chars).strip())

    # --- the whole ---------------------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        try:
            self.postgres_init()
            self.redis_start()
            migrate = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env=self.django_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if migrate.returncode != 0:
                raise StackError(f"migrate failed:\n{migrate.stderr[-3000:]}")
            self.simulator_start()
            self.web_start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=10)
        if self.postgres_running:
            with contextlib.suppress(StackError):
                self.postgres_stop("immediate")
        self.http.close()
        if not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
