"""import_contacts on 1,000,000 generated rows of mixed-format numbers, on PostgreSQL.

Figures, each beside a baseline measured in the same run:
- rows/s of the real command (a subprocess, as an operator runs it, its rows checked by one worker process
  per CPU) beside parsing and validating the same numbers with phonenumbers alone on one core: the floor no
  import can beat on one core. The goal: the import takes at most 1.25 times the floor's time (x>=0.80);
- the same rows/s beside a plain per-row ORM `update_or_create` import of a 10,000-row sample;
- peak memory of the command, its worker processes included, beside the goal of 200 MB: the peak of the
  sum of their proportional set sizes (PSS: a page the forked workers share with their parent counts once),
  sampled; the largest RSS of any one of them and an idle `manage.py` process are printed beside it;
- what bounds the time: the CPU the import spent, in the command, its workers and PostgreSQL's processes
  (when they run on this machine), spread over the cores this process may use. No schedule of that work can
  take less time, so the rows/s it allows beside the floor says how close to the goal the work itself lets
  the import come, whatever its processes overlap. Printed beside it: the CPU of the command and PostgreSQL
  together, who take turns on the one connection that writes the batches in file order.
"""

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 1_000_000))  # smaller only to try the script out
ORM_SAMPLE = min(10_000, ROWS)
ROOT = Path(__file__).resolve().parent.parent
PEAK_MEMORY_GOAL_MB = 200
TIME_GOAL = 1.25  # the import's time over phonenumbers' alone, at most

US_AREAS = ["212", "312", "415", "617", "646", "702", "713", "305", "404", "206"]
FIRST_NAMES = ["Ann", "Bob", "Chloé", "Dieter", "Priya", "João", "Olivia", "Wei", "Fatima", "Liam"]


def generate(path: Path, rows: int) -> None:
    """Numbers in the shapes spreadsheets hold them, ~1% rubbish and ~2% repeated, no two runs alike in order."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Phone", "First Name", "Last Name", "City", "Tier"])
        for i in range(rows):
            kind = i % 10
            if i % 100 == 7:
                phone = f"555-{i % 10000:04d}"  # no area code: rejected
            elif i % 50 == 3:
                phone = "({}) {}-{:04d}".format(*_us_number(i - 1))  # the row before, in another format
            elif kind < 4:
                area, exchange, line = _us_number(i)
                phone = [
                    f"({area}) {exchange}-{line:04d}",
                    f"{area}.{exchange}.{line:04d}",
                    f"+1{area}{exchange}{line:04d}",
                    f"1-{area}-{exchange}-{line:04d}",
                ][kind]
            elif kind == 4:
                phone = f"+44 20 7{i % 1000:03d} {i // 1000 % 10000:04d}"
            elif kind == 5:
                phone = f"+33 6 {i % 100:02d} {i // 100 % 100:02d} {i // 10000 % 100:02d} {i // 1000000 % 100:02d}"
            elif kind == 6:
                phone = f"+49 151 {i:08d}"
            elif kind == 7:
                phone = f"+61 412 {i % 1000:03d} {i // 1000 % 1000:03d}"
            elif kind == 8:
                phone = f"+55 11 9{i % 10000:04d}-{i // 10000 % 10000:04d}"
            else:
                phone = f"+91 98{i % 1000:03d} {i // 1000 % 100000:05d}"
            writer.writerow([phone, FIRST_NAMES[i % 10], f"Name{i % 997}", "Springfield" if i % 3 else "", "gold"])


def _us_number(i: int) -> tuple[str, int, int]:
    # (exchange, line) is distinct for every i below 7,000,000.
    return US_AREAS[i % 10], 200 + (i // 10000) % 700, i % 10000


def truncate_contacts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contactlistmembership, contacts_contactimporterror, contacts_contactimport, "
            "contacts_contact RESTART IDENTITY CASCADE"
        )


class Measured(NamedTuple):
    seconds: float
    peak_rss_mb: float  # of its largest process
    peak_pss_mb: float  # of it and its children together
    cpu_seconds: float  # of it and its children (the import's workers), user and system
    own_cpu_seconds: float  # of the process alone, as last sampled (within a sampling interval of its end)
    output: str


def run_measured(args: list[str], env: dict) -> Measured:
    """Run a child process; return its time, peak memory, CPU and output."""
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = _TreeMemory(process.pid)
    sampler.start()
    output = process.stdout.read()
    # The usage wait4 gives counts the children the process waited for: the pool's workers, ended and
    # reaped before the command exits.
    _, status, usage = os.wait4(process.pid, 0)
    sampler.stop.set()
    sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{output}")
    # Not wait4's ru_maxrss: Linux carries a process's peak over exec, so it held this benchmark's own size
    # at the fork (224 MB after the dashboard benchmark) instead of the command's.
    return Measured(
        elapsed,
        sampler.peak_rss_kib / 1024,
        sampler.peak_pss_kib / 1024,
        usage.ru_utime + usage.ru_stime,
        sampler.own_cpu_seconds,
        output,
    )


class _TreeMemory(threading.Thread):
    """Samples the summed PSS of a process and its children (the import's workers) a few times a second, and the
    largest peak RSS of any one of them since its exec (VmHWM)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.peak_pss_kib = 0
        self.peak_rss_kib = 0
        self.own_cpu_seconds = 0.0

    def run(self) -> None:
        while not self.stop.wait(0.2):
            pids = _tree(self.pid)
            if (own := _proc_cpu_seconds(self.pid, children=False)) is not None:
                self.own_cpu_seconds = own
            self.peak_pss_kib = max(self.peak_pss_kib, sum(_proc_kib(pid, "smaps_rollup", "Pss") for pid in pids))
            self.peak_rss_kib = max(self.peak_rss_kib, *(_proc_kib(pid, "status", "VmHWM") for pid in pids))


def _tree(pid: int) -> list[int]:
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        pids += _tree(int(child))
    return pids


def _proc_kib(pid: int, file: str, name: str) -> int:
    """The `name:` line (in kB) of /proc/<pid>/<file>; 0 once the process has ended."""
    try:
        text = Path(f"/proc/{pid}/{file}").read_text()
    except OSError:
        return 0  # ended meanwhile
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith(f"{name}:")), 0)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int, *, children: bool) -> float | None:
    """User + system CPU of a process from /proc/<pid>/stat, with that of the children it reaped if asked;
    None once it has ended."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name, which is in parentheses and may hold spaces: utime, stime, cutime and
    # cstime are the 14th to 17th fields of the line.
    fields = text.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _CLOCK_TICKS


def postgres_cpu_seconds() -> float | None:
    """CPU spent so far by the PostgreSQL server processes this machine runs, backends that have ended
    included (the postmaster reaped them, their CPU is in its children's): None when none is visible here (a
    server elsewhere). Every database's work counts: the benchmark runs alone."""
    total, seen = 0.0, False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            name = Path(entry.path, "comm").read_text().strip()
        except OSError:
            continue
        if name == "postgres" and (cpu := _proc_cpu_seconds(int(entry.name), children=True)) is not None:
            total, seen = total + cpu, True
    return total if seen else None


def phonenumbers_alone(path: Path) -> float:
    """Rows/s of parsing + is_valid_number on the same numbers, reading the same file the same way, in this
    one process (so on one core)."""
    import phonenumbers

    started = time.perf_counter()
    count = 0
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for row in reader:
            try:  # noqa: SIM105 - a with-block per row would slow down the floor being measured
                phonenumbers.is_valid_number(phonenumbers.parse(row[0], "US"))
            except phonenumbers.NumberParseException:
                pass
            count += 1
    return count / (time.perf_counter() - started)


def orm_update_or_create(path: Path, rows: int) -> float:
    """The import anyone writes first: one normalise and one update_or_create per row."""
    from django.utils import timezone

    from contacts.models import Contact
    from contacts.phones import normalize_phone
    from smscampaigns.errors import ApplicationError

    truncate_contacts()
    started = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        for index, (phone, first, last, city, tier) in enumerate(reader):
            if index == rows:
                break
            try:
                number = normalize_phone(phone, region="US")
            except ApplicationError:
                continue
            Contact.objects.update_or_create(
                phone_number=number.e164,
                defaults={
                    "country": number.region,
                    "timezone": "",  # only a zone the person gave is stored
                    "first_name": first,
                    "last_name": last,
                    "attributes": {"city": city, "tier": tier},
                    "status": Contact.Status.SUBSCRIBED,
                    "consented_at": timezone.now(),
                    "consent_source": "bench",
                },
            )
    return rows / (time.perf_counter() - started)


def run(ctx) -> dict:
    from contacts.models import ContactImport

    env = {**os.environ, "DATABASE_URL": ctx["database_url"], "LOG_LEVEL": "WARNING"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        path = Path(tmp) / "contacts-1m.csv"
        started = time.perf_counter()
        generate(path, ROWS)
        size_mb = path.stat().st_size / 1e6
        print(f"  generated {ROWS:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.0f} s", flush=True)

        idle_rss = run_measured([*manage, "shell", "-c", "import contacts.services.imports"], env).peak_rss_mb
        truncate_contacts()
        postgres_before = postgres_cpu_seconds()
        measured = run_measured([*manage, "import_contacts", str(path), "--consent-source=bench", "--list=bench"], env)
        postgres_after = postgres_cpu_seconds()
        elapsed, peak_rss, peak_pss = measured.seconds, measured.peak_rss_mb, measured.peak_pss_mb
        print("  " + measured.output.strip().splitlines()[-2], flush=True)
        record = ContactImport.objects.latest("id")
        assert record.rows_read == ROWS and record.status == ContactImport.Status.COMPLETED, record.failure
        import_rate = ROWS / elapsed
        print(
            f"  import: {elapsed:.0f} s including start-up; memory: peak PSS of the command and its workers "
            f"{peak_pss:.0f} MB (goal <= {PEAK_MEMORY_GOAL_MB} MB), largest RSS of one of them {peak_rss:.0f} MB, "
            f"idle manage.py {idle_rss:.0f} MB",
            flush=True,
        )

        floor = phonenumbers_alone(path)
        ratio = elapsed / (ROWS / floor)
        print(
            f"  phonenumbers alone on one core: {ROWS / floor:.0f} s; the import takes x{ratio:.2f} that "
            f"(goal <= x{TIME_GOAL})",
            flush=True,
        )
        cores = len(os.sched_getaffinity(0))
        postgres_cpu = None if postgres_before is None or postgres_after is None else postgres_after - postgres_before
        cpu = measured.cpu_seconds + (postgres_cpu or 0.0)
        fastest = cpu / cores  # every core busy with the import's work all the time
        per_row = 1e6 / ROWS
        database = (
            f"PostgreSQL {postgres_cpu * per_row:.1f}"
            if postgres_cpu is not None
            else "PostgreSQL not visible from here (a server elsewhere: not counted)"
        )
        print(
            f"  CPU a row: the command {measured.own_cpu_seconds * per_row:.1f} µs, its workers "
            f"{(measured.cpu_seconds - measured.own_cpu_seconds) * per_row:.1f} µs, {database} µs: "
            f"{cpu * per_row:.1f} µs; on {cores} cores no schedule of it takes less than {fastest:.0f} s, "
            f"x{fastest / (ROWS / floor):.2f} the floor (the import took x{elapsed / fastest:.2f} that)",
            flush=True,
        )
        if postgres_cpu is not None:
            # The batches are written by one connection, in file order: the command and PostgreSQL take
            # turns, so their CPU adds up (the workers check the rows ahead, beside them).
            chain = measured.own_cpu_seconds + postgres_cpu
            print(
                f"  the command and PostgreSQL in turn: {chain * per_row:.1f} µs a row, "
                f"x{chain / (ROWS / floor):.2f} the floor",
                flush=True,
            )
        orm = statistics.median(orm_update_or_create(path, ORM_SAMPLE) for _ in range(3))
        truncate_contacts()

    return {
        "import_contacts_1m_rows_per_s": {
            "value": import_rate,
            "unit": "rows/s",
            "baseline": "phonenumbers parse+is_valid_number alone on one core, same numbers",
            "baseline_value": floor,
        },
        "import_contacts_1m_vs_orm_rows_per_s": {
            "value": import_rate,
            "unit": "rows/s",
            "baseline": f"per-row ORM update_or_create, {ORM_SAMPLE:,}-row sample (median of 3)",
            "baseline_value": orm,
        },
        "import_contacts_1m_cpu_bound_rows_per_s": {
            "value": ROWS / fastest,
            "unit": "rows/s",
            "baseline": f"phonenumbers alone on one core (the value: the import's CPU spread over {cores} cores)",
            "baseline_value": floor,
        },
        "import_contacts_1m_peak_rss_mb": {
            "value": peak_pss,
            "unit": "MB",
            "baseline": f"the goal (the file is {size_mb:.0f} MB; idle manage.py {idle_rss:.0f} MB)",
            "baseline_value": PEAK_MEMORY_GOAL_MB,
        },
    }
