"""Create the demo superuser once and print its login (used by `make run`)."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "Create the demo admin login on first run and print it every run."

    def handle(self, *args, **options):
        login_file = settings.VAR_DIR / "demo-login.txt"
        User = get_user_model()
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None or not login_file.is_file():
            # The password lives only in this untracked file so that re-runs can print it again.
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser(DEMO_USERNAME, "demo@example.com", password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            login_file.parent.mkdir(parents=True, exist_ok=True)
            login_file.write_text(password)
            login_file.chmod(0o600)
        password = login_file.read_text().strip()
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Admin: http://127.0.0.1:{options.get('port') or '8000'}/admin/\n"
                f"  Login: {DEMO_USERNAME} / {password}\n"
            )
        )

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
