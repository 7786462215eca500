"""The drills and the engine benchmark start a stack of their own and point Django at it through the
environment: importing them must not read the settings first, or they would run against the database and
broker of the shell that started them."""

import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.parametrize("module", ["drills.stack", "drills.__main__", "bench.bench_engine"])
def test_importing_a_stack_module_reads_no_django_setting(module):
    probe = (
        f"import importlib; importlib.import_module({module!r}); "
        "from django.conf import settings; print(settings.configured)"
    )
    env = {"DJANGO_SETTINGS_MODULE": "smscampaigns.settings", "PATH": "/usr/bin:/bin", "ENV_FILE": ""}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
