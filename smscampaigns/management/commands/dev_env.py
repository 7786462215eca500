"""Write the development `.env` that `make run` starts from, so `manage.py` works in any other terminal.

`DEBUG=true manage.py dev_env --port 8000 --simulator-port 8999` (what `make run` does first) creates
`.env` beside `manage.py` when there is none: DEBUG on, a SECRET_KEY generated for this checkout, the
embedded database and broker (no DATABASE_URL or REDIS_URL), and the plivo backend pointed at the local
simulator with its demo credentials. An existing `.env` is the developer's: only the loopback addresses and
port that follow this run (the simulator's API URL and port, the public URL the simulator calls back) are
brought up to date, and only while they still point at this machine, so `PORT=8080 make run` keeps the
other terminals in step with it.

It runs with DEBUG given on its command line because the settings cannot be read without the file it
writes; it needs nothing of them but where the checkout is.
"""

import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from sends.simulator import DEMO_AUTH_ID, DEMO_AUTH_TOKEN

LOOPBACK_URL = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$")


def development_env(*, port: int, simulator_port: int) -> dict[str, str]:
    """The settings of a development checkout on the embedded default, in `.env` order."""
    return {
        "DEBUG": "true",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SMS_BACKEND": "sends.backends.plivo.SmsBackend",
        "PLIVO_API_URL": f"http://127.0.0.1:{simulator_port}",
        "PLIVO_LOOKUP_API_URL": f"http://127.0.0.1:{simulator_port}",
        "PLIVO_AUTH_ID": DEMO_AUTH_ID,
        "PLIVO_AUTH_TOKEN": DEMO_AUTH_TOKEN,
        "PLIVO_SENDER": "+14155550100",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SIMULATOR_PORT": str(simulator_port),
    }


HEADER = """\
# Written by `make run` for development on this machine: DEBUG on, the embedded SQLite database and file
# broker, the Plivo simulator. Every manage.py command reads it, so they work in any terminal. Edit freely:
# `make run` changes only PLIVO_API_URL, PLIVO_LOOKUP_API_URL, PUBLIC_BASE_URL and SIMULATOR_PORT, and only
# while they point at this machine. Never deploy with it (production settings: .env.example and docs/deploy.md).
"""

# The keys that follow the ports of the current `make run`, when their value is a loopback address.
PORT_KEYS = ("PLIVO_API_URL", "PLIVO_LOOKUP_API_URL", "PUBLIC_BASE_URL", "SIMULATOR_PORT")


def ensure_env_file(path: Path, *, port: int, simulator_port: int) -> str:
    """Create `path` if missing, else move its loopback port settings to these ports; say what was done."""
    wanted = development_env(port=port, simulator_port=simulator_port)
    if not path.exists():
        path.write_text(HEADER + "".join(f"{key}={value}\n" for key, value in wanted.items()))
        path.chmod(0o600)
        return f"Wrote {path.name} for development (DEBUG on, embedded database, Plivo simulator)."
    lines = path.read_text().splitlines(keepends=True)
    changed = []
    for index, line in enumerate(lines):
        key, sep, value = line.rstrip("\n").partition("=")
        key = key.strip()
        if not sep or key not in PORT_KEYS or value.strip() == wanted[key]:
            continue
        follows_ports = key == "SIMULATOR_PORT" or LOOPBACK_URL.match(value.strip())
        if follows_ports:
            lines[index] = f"{key}={wanted[key]}\n"
            changed.append(key)
    if not changed:
        return f"Using {path.name}."
    path.write_text("".join(lines))
    return f"Using {path.name}; {', '.join(changed)} now follow this run's ports."


class Command(BaseCommand):
    help = "Write the development .env (DEBUG on, embedded database, Plivo simulator) unless there is one."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the web server's port")
        parser.add_argument("--simulator-port", type=int, default=8999, help="the Plivo simulator's port")
        parser.add_argument("--path", type=Path, default=None, help="default: .env beside manage.py")

    def handle(self, *args, port, simulator_port, path, **options):
        path = path or settings.BASE_DIR / ".env"
        self.stdout.write(ensure_env_file(path, port=port, simulator_port=simulator_port))
