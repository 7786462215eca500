"""Settings for smscampaigns: one module, every value from the environment (12-factor).

With no environment at all this is the embedded default that `make run` uses: SQLite in WAL mode, a
file-system Celery broker, a file-based cache. `DATABASE_URL` and `REDIS_URL` switch the same code to
PostgreSQL and Redis.
"""

import ipaddress
import json
import re
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from smscampaigns.logging import build_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# `.env` beside manage.py: the development one `make run` writes, or an operator's. Values already in the
# environment win over it. ENV_FILE names another file, or none when empty (the test suite reads none, so a
# developer's `.env` cannot change what the tests see).
ENV_FILE = environ.Env().str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    env.read_env(ENV_FILE)


def _setting(name: str, parse, **kwargs):
    """Read one setting; a malformed value stops start-up with one line that names it."""
    try:
        return parse(name, **kwargs)
    except ImproperlyConfigured:
        raise
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"Setting {name} is malformed: {exc}") from None


def _non_negative_decimal(raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except ArithmeticError:  # decimal.InvalidOperation
        raise ValueError(f"{raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{raw!r} is not an amount of 0 or more")
    return value


def _clock_time(name: str, default: str) -> time:
    raw = env.str(name, default=default)
    try:
        return time.fromisoformat(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"Setting {name} is malformed: expected a local time such as 08:00, got {raw!r}"
        ) from None


DEBUG = _setting("DEBUG", env.bool, default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Setting SECRET_KEY is required when DEBUG is off.")
    SECRET_KEY = "insecure-development-key-used-only-with-DEBUG-on"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin, with the dashboard as its front page.
    "insights.admin_config.BackOfficeAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "smscampaigns",
    "audit",
    "contacts",
    "campaigns",
    "sends",
    "links",
    "conversations",
    "insights",
    "integrations",
]

MIDDLEWARE = [
    # First: probes reach /healthz by the server's own address and over plain HTTP (smscampaigns/health.py).
    "smscampaigns.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The short link redirect answers here, with the headers above and without the staff's middleware below
    # (it sets the two browser policies' headers itself).
    "links.middleware.ShortLinkMiddleware",
    # Plivo's webhooks likewise (sends/middleware.py).
    "sends.middleware.PlivoWebhookMiddleware",
    # Content-Security-Policy and Permissions-Policy on every response (see "Browser policies" below).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "smscampaigns.middleware.StaffTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "smscampaigns.urls"
WSGI_APPLICATION = "smscampaigns.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASES = {
    "default": _setting("DATABASE_URL", env.db_url, default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured("Setting DATABASE_URL is malformed: expected postgres://... or sqlite:///...")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock at BEGIN so
    # concurrent writers queue on the busy timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not :memory:, so that Celery workers and live servers started by tests see the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = _setting("CONN_MAX_AGE", env.int, default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, Celery, cache -------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"Setting REDIS_URL is malformed: expected redis://..., got {REDIS_URL!r}")

CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task that is not acked within this window is redelivered; sends are claimed atomically, so a
    # redelivery is safe, and it is what recovers the work of a worker that was killed.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://"
    # kombu's file-system transport, made safe to read while beat writes (smscampaigns/embedded_broker.py).
    CELERY_BROKER_TRANSPORT = "smscampaigns.embedded_broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(broker_dir),
        "data_folder_out": str(broker_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
        # kombu's default is ./control, a folder in whatever directory the process started in.
        "control_folder": str(VAR_DIR / "celery-control"),
    }
    CELERY_RESULT_BACKEND = None
    # File-based so that web, worker and beat, separate processes, share one cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- SMS and Plivo --------------------------------------------------------------------------------
SMS_BACKEND = env.str("SMS_BACKEND", default="sends.backends.console.SmsBackend")
# Where sends.backends.filebased writes its JSON lines.
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(VAR_DIR / "sms-outbox.jsonl"))
PLIVO_AUTH_ID = env.str("PLIVO_AUTH_ID", default="")
PLIVO_AUTH_TOKEN = env.str("PLIVO_AUTH_TOKEN", default="")
PLIVO_API_URL = env.str("PLIVO_API_URL", default="https://api.plivo.com").rstrip("/")
# Plivo serves its Lookup API from a host of its own.
PLIVO_LOOKUP_API_URL = env.str("PLIVO_LOOKUP_API_URL", default="https://lookup.plivo.com").rstrip("/")
PLIVO_SENDER = env.str("PLIVO_SENDER", default="")
SIMULATOR_PORT = _setting("SIMULATOR_PORT", env.int, default=8999)
# Price of one segment by destination country (ISO 3166 alpha-2), "*" for anywhere else. An estimate
# for staff; the real cost arrives with each delivery report.
SMS_PRICE_PER_SEGMENT = {
    country: Decimal(price)
    for country, price in _setting(
        "SMS_PRICE_PER_SEGMENT",
        env.dict,
        default={"US": "0.0055", "CA": "0.0055", "GB": "0.0400", "FR": "0.0750", "DE": "0.0850", "*": "0.0500"},
    ).items()
}
# The most segments one recipient's message may cost; a longer text is refused when a campaign is saved and
# skipped (reason message_too_long) when a contact's values make it longer. 10 segments is 1,530 GSM-7 or
# 670 UCS-2 characters, more than any campaign text a person reads on a phone, while a runaway attribute
# (thousands of characters) can cost at most ten times one SMS per recipient. Plivo's own ceiling is about
# 11 segments (campaigns.segments.PLIVO_MAX_CHARACTERS), so a value above 11 changes nothing.
SMS_MAX_SEGMENTS = _setting("SMS_MAX_SEGMENTS", env.int, default=10)
if SMS_MAX_SEGMENTS < 1:
    raise ImproperlyConfigured(f"Setting SMS_MAX_SEGMENTS is malformed: expected 1 or more, got {SMS_MAX_SEGMENTS}")

# --- Short links and clicks (links/) ---------------------------------------------------------------
# Where a tracked campaign's short links point: SHORT_LINK_BASE_URL/<code>. A short domain of your own keeps
# texts short and out of carriers' filters for public shorteners.
SHORT_LINK_BASE_URL = env.str("SHORT_LINK_BASE_URL", default=f"{PUBLIC_BASE_URL}/l/").rstrip("/") + "/"
if not re.fullmatch(r"https?://[^/\s]+(/\S*)?/", SHORT_LINK_BASE_URL):
    raise ImproperlyConfigured(
        f"Setting SHORT_LINK_BASE_URL is malformed: expected http(s)://host/path/, got {SHORT_LINK_BASE_URL!r}"
    )
# A short link older than this redirects to SHORT_LINK_EXPIRED_URL (blank: a plain 404 page).
SHORT_LINK_EXPIRY_DAYS = _setting("SHORT_LINK_EXPIRY_DAYS", env.int, default=90)
SHORT_LINK_EXPIRED_URL = env.str("SHORT_LINK_EXPIRED_URL", default="")
# How the sends engine reaches the links app without importing it: called with the campaign inside the
# fan-out's transaction once its sends are written, and with a chunk's campaign and send ids to get the
# function that writes each recipient's short links into their rendered text.
SENDS_FAN_OUT_HOOKS = ["links.services.codes.short_links_create"]
SENDS_BODY_REWRITER = "links.services.rewriting.body_rewriter"
# A staff test send's rendered text with short links of its own (counted nowhere): a function of the
# campaign and the text.
SENDS_TEST_BODY_REWRITER = "links.services.staff_test_links.staff_test_send_text"
# Adds `human_clicks` to the sends API's rows (its `clicks`): a function of a CampaignSend queryset.
SENDS_CLICKS_ANNOTATION = "links.selectors.sends_with_clicks"
# Clicks are queued in Redis by the redirect and written to the database in batches by this beat task.
LINK_CLICKS_FLUSH_SECONDS = _setting("LINK_CLICKS_FLUSH_SECONDS", env.float, default=2.0)
# Without Redis (the embedded default) the redirect queues them in a file here, shared by web and worker.
LINK_CLICKS_SPOOL_DIR = Path(env.str("LINK_CLICKS_SPOOL_DIR", default=str(VAR_DIR / "link-clicks")))

# --- Compliance -----------------------------------------------------------------------------------
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US").upper()
if len(DEFAULT_PHONE_REGION) != 2 or not DEFAULT_PHONE_REGION.isalpha():
    raise ImproperlyConfigured(
        f"Setting DEFAULT_PHONE_REGION is malformed: expected a two-letter region such as US, "
        f"got {DEFAULT_PHONE_REGION!r}"
    )
PHONENUMBER_DEFAULT_REGION = DEFAULT_PHONE_REGION
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_FORMAT = "E164"
QUIET_HOURS_START = _clock_time("QUIET_HOURS_START", "08:00")
QUIET_HOURS_END = _clock_time("QUIET_HOURS_END", "21:00")


def _quiet_hours_rules(name: str) -> dict:
    """Changes to the local quiet-hours rules (campaigns/quiet_hours.py lists the defaults and their sources):
    a JSON object of "US" / "US-FL" -> ["08:00", "20:00"], or null to drop a default."""
    raw = env.str(name, default="") or "{}"
    try:
        rules = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Setting {name} is malformed: not JSON ({exc})") from None
    if not isinstance(rules, dict):
        raise ImproperlyConfigured(
            f'Setting {name} is malformed: expected an object such as {{"US-FL": ["08:00", "20:00"]}}'
        )
    for key, value in rules.items():
        if not re.fullmatch(r"[A-Z]{2}(-[A-Z0-9]{1,3})?", key):
            raise ImproperlyConfigured(
                f"Setting {name} is malformed: {key!r} is not a country (US) or a subdivision (US-FL) code"
            )
        if value is None:
            continue
        try:
            start, end = (time.fromisoformat(part) for part in value)
        except (TypeError, ValueError):
            start = end = None
        if not isinstance(value, list) or start is None or not start < end:
            raise ImproperlyConfigured(
                f'Setting {name} is malformed: {key!r} must be ["HH:MM", "HH:MM"] with the start before the end, '
                f"or null; got {value!r}"
            )
    return rules


QUIET_HOURS_RULES = _quiet_hours_rules("QUIET_HOURS_RULES")
# A window that closes sooner than this is treated as closed: the message waits for the next one.
QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS = _setting("QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS", env.int, default=300)
if QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS < 5:
    raise ImproperlyConfigured(
        "Setting QUIET_HOURS_MIN_WINDOW_LEFT_SECONDS is malformed: at least 5 (Plivo's shortest message_expiry)"
    )
SEND_RATE_PER_SECOND = _setting("SEND_RATE_PER_SECOND", env.int, default=10)
# Number lookups (carrier and line type). A contact's lookup is reused for this many days, never repeated
# within them; the price per lookup (USD, Plivo's list price) gives the estimate shown before a bulk lookup;
# contacts whose line is one of these types are left out of campaigns ("fixed": landlines).
NUMBER_LOOKUP_MAX_AGE_DAYS = _setting("NUMBER_LOOKUP_MAX_AGE_DAYS", env.int, default=90)
NUMBER_LOOKUP_PRICE = _setting(
    "NUMBER_LOOKUP_PRICE", lambda name, default: _non_negative_decimal(env.str(name, default=default)), default="0.004"
)
NUMBER_LOOKUP_EXCLUDED_LINE_TYPES = _setting("NUMBER_LOOKUP_EXCLUDED_LINE_TYPES", env.list, default=["fixed"])
# The service `import_contacts --lookup` calls (the contacts app does not import the delivery app).
NUMBER_LOOKUP_SERVICE = "sends.services.lookups.contacts_lookup"
if unknown_line_types := set(NUMBER_LOOKUP_EXCLUDED_LINE_TYPES) - {"mobile", "fixed", "voip", "toll-free", "unknown"}:
    raise ImproperlyConfigured(
        f"Setting NUMBER_LOOKUP_EXCLUDED_LINE_TYPES names unknown line types {sorted(unknown_line_types)}: "
        "use mobile, fixed, voip, toll-free or unknown"
    )
SMS_BRAND_NAME = env.str("SMS_BRAND_NAME", default="smscampaigns")

# --- Send engine ----------------------------------------------------------------------------------
# How often beat launches due campaigns and tends dispatch (retries, deferrals, stuck sends, completion).
ENGINE_TICK_SECONDS = _setting("ENGINE_TICK_SECONDS", env.float, default=2.0)
# Sends per Celery message, and how many such messages one campaign keeps queued at a time. A chunk as big as
# Plivo's bulk form (1,000 destinations) lets recipients who share one text go out in one request.
DISPATCH_CHUNK_SIZE = _setting("DISPATCH_CHUNK_SIZE", env.int, default=1000)
DISPATCH_WINDOW_CHUNKS = _setting("DISPATCH_WINDOW_CHUNKS", env.int, default=8)
# Sends claimed together (one transaction) before their requests go out; bounds what a killed worker
# leaves in `sending` to reconcile (two waves: the next is claimed while one is in flight). One bulk
# request (one text to up to 1,000) is never split to fit it. At 100 the claim and recording of the next
# wave outlasted sending the one in flight, and the connections idled a third of the time; at 250, a tenth.
DISPATCH_WAVE_SIZE = _setting("DISPATCH_WAVE_SIZE", env.int, default=250)
# Requests of a wave one worker keeps in flight at once, each on its own kept-alive connection: a wave of
# personalised texts is one request per recipient, and one at a time a worker mostly waits on the provider.
DISPATCH_CONNECTIONS = _setting("DISPATCH_CONNECTIONS", env.int, default=8)
if DISPATCH_CONNECTIONS < 1:
    raise ImproperlyConfigured("Setting DISPATCH_CONNECTIONS is malformed: at least 1 request at a time")
# A campaign whose queued chunks show no progress for this long is assumed to have lost them (a killed
# worker) and gets them again; claims make the duplicate harmless.
DISPATCH_LEASE_SECONDS = _setting("DISPATCH_LEASE_SECONDS", env.float, default=60.0)
SEND_MAX_ATTEMPTS = _setting("SEND_MAX_ATTEMPTS", env.int, default=5)
SEND_RETRY_BASE_SECONDS = _setting("SEND_RETRY_BASE_SECONDS", env.float, default=10.0)
SEND_RETRY_MAX_SECONDS = _setting("SEND_RETRY_MAX_SECONDS", env.float, default=900.0)
# A send still "sending" after this long belonged to a process that died mid-call: reconcile it.
SEND_STUCK_AFTER_SECONDS = _setting("SEND_STUCK_AFTER_SECONDS", env.float, default=300.0)
# The global frequency cap's defaults (managers change it in the admin): no contact gets more than
# FREQUENCY_CAP_MAX_MESSAGES marketing messages in a rolling FREQUENCY_CAP_WINDOW_DAYS; 0 messages: no cap.
FREQUENCY_CAP_MAX_MESSAGES = _setting("FREQUENCY_CAP_MAX_MESSAGES", env.int, default=0)
FREQUENCY_CAP_WINDOW_DAYS = _setting("FREQUENCY_CAP_WINDOW_DAYS", env.int, default=7)
if FREQUENCY_CAP_MAX_MESSAGES < 0:
    raise ImproperlyConfigured("Setting FREQUENCY_CAP_MAX_MESSAGES is malformed: 0 (no cap) or more messages")
if not 1 <= FREQUENCY_CAP_WINDOW_DAYS <= 366:
    raise ImproperlyConfigured("Setting FREQUENCY_CAP_WINDOW_DAYS is malformed: 1 to 366 days")
# An A/B test credits a reply or an opt-out to a variant when it comes within this many hours of the send.
AB_ATTRIBUTION_HOURS = _setting("AB_ATTRIBUTION_HOURS", env.int, default=72)
CELERY_BEAT_SCHEDULE = {
    "campaigns-launch-due": {
        "task": "sends.tasks.campaigns_launch_due",
        "schedule": ENGINE_TICK_SECONDS,
        "options": {"expires": ENGINE_TICK_SECONDS * 5},
    },
    "sends-dispatch-tick": {
        "task": "sends.tasks.sends_dispatch_tick",
        "schedule": ENGINE_TICK_SECONDS,
        "options": {"expires": ENGINE_TICK_SECONDS * 5},
    },
}
# --- Event webhooks for integrators (integrations/) ----------------------------------------------------
# Each request waits this long for an answer; a failed delivery is retried after WEBHOOK_RETRY_BASE_SECONDS,
# doubled after each failure up to WEBHOOK_RETRY_MAX_SECONDS, for WEBHOOK_RETRY_FOR_SECONDS (then given up);
# an endpoint failing every request for WEBHOOK_DISABLE_AFTER_SECONDS is disabled and the managers e-mailed.
WEBHOOK_TIMEOUT_SECONDS = _setting("WEBHOOK_TIMEOUT_SECONDS", env.float, default=10.0)
WEBHOOK_RETRY_BASE_SECONDS = _setting("WEBHOOK_RETRY_BASE_SECONDS", env.float, default=30.0)
WEBHOOK_RETRY_MAX_SECONDS = _setting("WEBHOOK_RETRY_MAX_SECONDS", env.float, default=3600.0)
WEBHOOK_RETRY_FOR_SECONDS = _setting("WEBHOOK_RETRY_FOR_SECONDS", env.float, default=86400.0)
WEBHOOK_DISABLE_AFTER_SECONDS = _setting("WEBHOOK_DISABLE_AFTER_SECONDS", env.float, default=86400.0)
# Deliveries read per round, and how long one worker may hold an endpoint (it works half of that at most).
WEBHOOK_BATCH_SIZE = _setting("WEBHOOK_BATCH_SIZE", env.int, default=100)
WEBHOOK_LEASE_SECONDS = _setting("WEBHOOK_LEASE_SECONDS", env.float, default=120.0)
# How often beat hands endpoints with deliveries due (retries, or a kick that was lost) to a worker.
WEBHOOK_SWEEP_SECONDS = _setting("WEBHOOK_SWEEP_SECONDS", env.float, default=5.0)
CELERY_BEAT_SCHEDULE["webhook-deliveries-sweep"] = {
    "task": "integrations.tasks.webhook_deliveries_sweep",
    "schedule": WEBHOOK_SWEEP_SECONDS,
    "options": {"expires": WEBHOOK_SWEEP_SECONDS * 5},
}

# --- Heartbeats of worker and beat, reported by /healthz (smscampaigns/heartbeat.py) ------------------
HEARTBEAT_SECONDS = _setting("HEARTBEAT_SECONDS", env.float, default=15.0)
HEARTBEAT_MAX_AGE_SECONDS = _setting("HEARTBEAT_MAX_AGE_SECONDS", env.float, default=60.0)
CELERY_IMPORTS = ["smscampaigns.heartbeat"]  # the heartbeat task lives beside /healthz, not in an app
CELERY_BEAT_SCHEDULE["heartbeat"] = {
    "task": "smscampaigns.heartbeat.heartbeat",
    "schedule": HEARTBEAT_SECONDS,
    "options": {"expires": HEARTBEAT_SECONDS * 2},
}

# --- Prometheus metrics, GET /metrics (insights/metrics.py) ------------------------------------------------
# Served to `Authorization: Bearer <METRICS_TOKEN>` or to clients in METRICS_ALLOWED_NETWORKS (CIDRs, e.g.
# 10.0.0.0/8; the client address as smscampaigns/client_address.py finds it); with neither, /metrics is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="").strip()
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=[])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network such as 10.0.0.0/8"
        ) from None

# --- Inbound texts and their replies (sends/services/inbound.py) -----------------------------------
# Keywords count when they are the whole message, give or take case, whitespace, punctuation, accents, invisible
# characters and Cyrillic or Greek lookalike letters (sends/services/inbound.py text_normalize).
# The opt-out defaults hold the FCC's revocation words and the common Spanish and French ones.
SMS_OPT_OUT_KEYWORDS = env.list(
    "SMS_OPT_OUT_KEYWORDS",
    default=[
        *["STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "UNSUB", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"],
        *["OPT OUT", "BAJA", "ALTO", "PARAR", "PARE", "CANCELAR", "ARRET", "DESABONNER", "DESINSCRIRE"],
    ],
)
SMS_OPT_IN_KEYWORDS = env.list("SMS_OPT_IN_KEYWORDS", default=["START", "UNSTOP", "YES", "RESUME"])
SMS_HELP_KEYWORDS = env.list("SMS_HELP_KEYWORDS", default=["HELP", "INFO", "AYUDA", "AIDE"])
# The language of a keyword ("BAJA=es,AIDE=fr"): its opt-out confirmation or HELP reply is the template of
# that language (SMS_OPT_OUT_CONFIRMATION_ES, SMS_HELP_TEXT_FR, ...) where one exists, else the default.
SMS_KEYWORD_LANGUAGES = env.dict(
    "SMS_KEYWORD_LANGUAGES",
    default={
        **dict.fromkeys(["BAJA", "ALTO", "PARAR", "PARE", "CANCELAR", "AYUDA"], "es"),
        **dict.fromkeys(["ARRET", "DESABONNER", "DESINSCRIRE", "AIDE"], "fr"),
    },
)
# Informal opt-outs (2025 TCPA revocation rules): honoured wherever they appear in a message, tolerant of
# case and punctuation ("Please REMOVE me!!" matches "remove me"). Separate phrases with commas.
SMS_OPT_OUT_PHRASES = env.list(
    "SMS_OPT_OUT_PHRASES",
    default=[
        "leave me alone",
        "remove me",
        "take me off",
        "no more texts",
        "no more messages",
        "no more text messages",
        "dont text me",
        "do not text me",
        "dont message me",
        "do not message me",
        "dont contact me",
        "do not contact me",
        "stop texting",
        "please stop",
        "stop please",
        "stop it",
        "stop messaging",
        "stop sending",
        "stop contacting me",
        "opt me out",
        "opt out",
        "unsubscribe me",
        "wrong number",
    ],
)
SMS_SUPPORT_CONTACT = env.str("SMS_SUPPORT_CONTACT", default="")
# Reply templates: {brand} is SMS_BRAND_NAME, {support} is SMS_SUPPORT_CONTACT.
SMS_OPT_OUT_CONFIRMATION = env.str(
    "SMS_OPT_OUT_CONFIRMATION",
    default="You are unsubscribed from {brand}. No more messages. Reply START to resubscribe.",
)
SMS_OPT_IN_CONFIRMATION = env.str(
    "SMS_OPT_IN_CONFIRMATION",
    default="You are subscribed to {brand} messages again. Msg & data rates may apply. Reply HELP for help, "
    "STOP to opt out.",
)
SMS_HELP_TEXT = env.str(
    "SMS_HELP_TEXT",
    default="{brand}: marketing texts. Msg & data rates may apply. Reply STOP to unsubscribe, START to resubscribe."
    + (" Help: {support}" if SMS_SUPPORT_CONTACT else ""),
)
SMS_OPT_OUT_CONFIRMATION_ES = env.str(
    "SMS_OPT_OUT_CONFIRMATION_ES",
    default="Te diste de baja de {brand}. No recibirás más mensajes. Responde START para volver a suscribirte.",
)
SMS_OPT_OUT_CONFIRMATION_FR = env.str(
    "SMS_OPT_OUT_CONFIRMATION_FR",
    default="Vous êtes désabonné de {brand}. Vous ne recevrez plus de messages. Répondez START pour vous réabonner.",
)
SMS_HELP_TEXT_ES = env.str(
    "SMS_HELP_TEXT_ES",
    default="{brand}: mensajes de marketing. Pueden aplicarse tarifas de mensajes y datos. Responde BAJA para darte "
    "de baja, START para volver a suscribirte." + (" Ayuda: {support}" if SMS_SUPPORT_CONTACT else ""),
)
SMS_HELP_TEXT_FR = env.str(
    "SMS_HELP_TEXT_FR",
    default="{brand} : messages marketing. Des frais de messagerie peuvent s'appliquer. Répondez ARRET pour vous "
    "désabonner, START pour vous réabonner." + (" Aide : {support}" if SMS_SUPPORT_CONTACT else ""),
)
# A number is answered HELP at most once in this many seconds (0: every time), so HELP cannot be used to
# make us text someone over and over.
SMS_HELP_REPLY_INTERVAL_SECONDS = _setting("SMS_HELP_REPLY_INTERVAL_SECONDS", env.int, default=86400)
for _name in (
    "SMS_OPT_OUT_CONFIRMATION",
    "SMS_OPT_IN_CONFIRMATION",
    "SMS_HELP_TEXT",
    *[
        f"{template}_{language.upper()}"
        for template in ("SMS_OPT_OUT_CONFIRMATION", "SMS_HELP_TEXT")
        for language in ("es", "fr")
    ],
):
    try:
        globals()[_name].format(brand=SMS_BRAND_NAME, support=SMS_SUPPORT_CONTACT)
    except (KeyError, IndexError, ValueError) as _exc:
        raise ImproperlyConfigured(
            f"Setting {_name} is malformed: only {{brand}} and {{support}} may be used ({_exc!r})"
        ) from None
# The two-way inbox (conversations). Who hears of webhook messages beyond sends (sends/listeners.py).
SMS_MESSAGE_LISTENERS = ["conversations.listeners.ConversationListener"]
# A staff reply to someone who wrote within this many seconds answers them; later it is a cold message,
# which during their quiet hours needs the author's confirmation and without recorded consent is refused.
INBOX_REPLY_WINDOW_SECONDS = _setting("INBOX_REPLY_WINDOW_SECONDS", env.int, default=86400)
# How often an open inbox page asks for new messages, and the admin's frame for the unread count.
INBOX_POLL_SECONDS = _setting("INBOX_POLL_SECONDS", env.int, default=10)
# A reply is sent while Plivo waits for the webhook's answer (8 s at most): give the provider this long.
SMS_REPLY_TIMEOUT_SECONDS = _setting("SMS_REPLY_TIMEOUT_SECONDS", env.float, default=4.0)
# Repeated STOPs (or STARTs) within this window get no second confirmation.
SMS_CONFIRMATION_WINDOW_SECONDS = _setting("SMS_CONFIRMATION_WINDOW_SECONDS", env.int, default=600)
# Webhook signatures (sends/signatures.py, sends/services/webhook_nonces.py). A request carrying V3 (which
# signs the body) is judged on V3 alone. V2 signs only the URL and a nonce; Plivo documents V2 alone for
# message callbacks, so V2-only requests are accepted unless this is turned off (do, once your callbacks
# carry X-Plivo-Signature-V3). Every nonce accepted is stored with the request it came on and refused on
# any other; V2 nonces are kept while V2-only requests are accepted (a V2 signature never expires), the
# others are pruned after PLIVO_WEBHOOK_NONCE_TTL_SECONDS (Plivo's own retries end within ~7 minutes).
PLIVO_WEBHOOK_ACCEPT_V2_ONLY = _setting("PLIVO_WEBHOOK_ACCEPT_V2_ONLY", env.bool, default=True)
PLIVO_WEBHOOK_NONCE_TTL_SECONDS = _setting("PLIVO_WEBHOOK_NONCE_TTL_SECONDS", env.int, default=3600)
# Delivery reports are stored by the webhook and applied to sends and campaign counters in batches by a
# worker (sends.services.delivery_reports): beat starts a drain this often, so a report reaches the counters
# within about this long plus the batch's own time.
DELIVERY_REPORTS_DRAIN_SECONDS = _setting("DELIVERY_REPORTS_DRAIN_SECONDS", env.float, default=0.5)
if DELIVERY_REPORTS_DRAIN_SECONDS <= 0:
    raise ImproperlyConfigured("Setting DELIVERY_REPORTS_DRAIN_SECONDS is malformed: more than 0 seconds")
CELERY_BEAT_SCHEDULE["delivery-reports-drain"] = {
    "task": "sends.tasks.delivery_reports_drain",
    "schedule": DELIVERY_REPORTS_DRAIN_SECONDS,
    "options": {"expires": DELIVERY_REPORTS_DRAIN_SECONDS * 5},
}
CELERY_BEAT_SCHEDULE["webhook-nonces-prune"] = {
    "task": "sends.tasks.webhook_nonces_prune",
    "schedule": 600.0,
    "options": {"expires": 600.0},
}
CELERY_BEAT_SCHEDULE["link-clicks-flush"] = {
    "task": "links.tasks.link_clicks_flush",
    "schedule": LINK_CLICKS_FLUSH_SECONDS,
    "options": {"expires": LINK_CLICKS_FLUSH_SECONDS * 5},
}

# --- People joining lists by themselves (contacts/services/subscriptions.py, sends/services/opt_in_texts.py) ---
# A request to join (a list keyword, the sign-up page /join/<slug>/, POST /api/v1/subscriptions/) waits this
# many days for the person's confirming reply, then expires; until then the contact is never texted a campaign.
OPT_IN_PENDING_DAYS = _setting("OPT_IN_PENDING_DAYS", env.int, default=7)
if OPT_IN_PENDING_DAYS < 1:
    raise ImproperlyConfigured(f"Setting OPT_IN_PENDING_DAYS is malformed: at least 1, got {OPT_IN_PENDING_DAYS}")
# Replies that confirm a pending request (whole message, as keywords are read). They win over START-family
# words only for a number with a pending request.
OPT_IN_CONFIRM_WORDS = env.list("OPT_IN_CONFIRM_WORDS", default=["Y", "YES"])
# The confirmation text, with the CTIA disclosures: {program} (the list's program name), {frequency} (its
# message frequency), {brand}, {support}. It must keep the rates notice and the HELP and STOP instructions.
OPT_IN_CONFIRMATION_TEXT = env.str(
    "OPT_IN_CONFIRMATION_TEXT",
    default="{program}: reply Y to confirm you want texts from us. {frequency}. Msg & data rates may apply. "
    "Reply HELP for help, STOP to cancel.",
)
try:
    OPT_IN_CONFIRMATION_TEXT.format(program="", frequency="", brand="", support="")
except (KeyError, IndexError, ValueError) as _exc:
    raise ImproperlyConfigured(
        "Setting OPT_IN_CONFIRMATION_TEXT is malformed: only {program}, {frequency}, {brand} and {support} "
        f"may be used ({_exc!r})"
    ) from None
for _words in ("Msg & data rates may apply", "HELP", "STOP"):
    if _words not in OPT_IN_CONFIRMATION_TEXT:
        raise ImproperlyConfigured(f"Setting OPT_IN_CONFIRMATION_TEXT must say {_words!r} (CTIA disclosures)")
# Who sends the confirmation and welcome texts: contacts asks, sends delivers (contacts never imports sends).
OPT_IN_TEXT_SENDER = env.str("OPT_IN_TEXT_SENDER", default="sends.services.opt_in_texts.opt_in_text_send")
# Sites allowed to frame the sign-up page (CSP frame-ancestors), e.g. "https://shop.example.com".
JOIN_FRAME_ANCESTORS = env.list("JOIN_FRAME_ANCESTORS", default=["'self'"])
# Sign-up page submissions accepted per client address per hour (after that: 429 until the hour ends).
JOIN_RATE_LIMIT_PER_HOUR = _setting("JOIN_RATE_LIMIT_PER_HOUR", env.int, default=10)
CELERY_BEAT_SCHEDULE["subscription-requests-expire"] = {
    "task": "contacts.tasks.subscription_requests_expire",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}

# --- Client address behind a proxy (smscampaigns/client_address.py) ---------------------------------
# The request header (X-Forwarded-For, or as Django names it: HTTP_X_FORWARDED_FOR) to which each proxy in
# front of the app appends the address it received the request from, and how many such proxies there are.
# Login lockouts, API throttles and logs use the client address found there; unset, the connection's peer.
TRUSTED_PROXY_HEADER = env.str("TRUSTED_PROXY_HEADER", default="").strip().upper().replace("-", "_")
if TRUSTED_PROXY_HEADER and not TRUSTED_PROXY_HEADER.startswith("HTTP_"):
    TRUSTED_PROXY_HEADER = f"HTTP_{TRUSTED_PROXY_HEADER}"
if TRUSTED_PROXY_HEADER and not re.fullmatch(r"HTTP_[A-Z0-9_]+", TRUSTED_PROXY_HEADER):
    raise ImproperlyConfigured(
        f"Setting TRUSTED_PROXY_HEADER is malformed: expected a request header such as X-Forwarded-For "
        f"or HTTP_X_FORWARDED_FOR, got {TRUSTED_PROXY_HEADER!r}"
    )
TRUSTED_PROXY_COUNT = _setting("TRUSTED_PROXY_COUNT", env.int, default=1 if TRUSTED_PROXY_HEADER else 0)
if TRUSTED_PROXY_COUNT < 0 or (TRUSTED_PROXY_COUNT and not TRUSTED_PROXY_HEADER):
    raise ImproperlyConfigured(
        f"Setting TRUSTED_PROXY_COUNT is malformed: expected the number of proxies (0 or more) in front of the "
        f"app, with TRUSTED_PROXY_HEADER set when it is not 0; got {TRUSTED_PROXY_COUNT}"
    )

# --- Auth, i18n, static ---------------------------------------------------------------------------
# Brute-force protection for the admin login (django-axes): after AXES_FAILURE_LIMIT wrong passwords for
# one username from one address, that pair is locked out for the cool-off time (answered 429).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = _setting("AXES_FAILURE_LIMIT", env.int, default=5)
AXES_COOLOFF_TIME = timedelta(minutes=_setting("AXES_COOLOFF_MINUTES", env.int, default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # its start-up banner would land in every management command's output
AXES_SENSITIVE_PARAMETERS = ["password", "auth_token", "token"]
# The client behind the trusted proxies, not the proxy: else one person's failures lock out everyone.
AXES_CLIENT_IP_CALLABLE = "smscampaigns.client_address.client_address"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or not _setting("STATIC_MANIFEST", env.bool, default=True)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"

# --- Contact files: how much one upload, row or contact may hold (docs/contacts-import.md) ------------
# Each bounds memory and the pages that list attributes; a file or contact past one gets an error naming it.
CONTACT_IMPORT_MAX_BYTES = _setting("CONTACT_IMPORT_MAX_BYTES", env.int, default=50 * 1024 * 1024)
CONTACT_IMPORT_MAX_COLUMNS = _setting("CONTACT_IMPORT_MAX_COLUMNS", env.int, default=200)
CONTACT_MAX_ATTRIBUTES = _setting("CONTACT_MAX_ATTRIBUTES", env.int, default=100)
CONTACT_ATTRIBUTE_MAX_CHARS = _setting("CONTACT_ATTRIBUTE_MAX_CHARS", env.int, default=1000)
for _name in (
    "CONTACT_IMPORT_MAX_BYTES",
    "CONTACT_IMPORT_MAX_COLUMNS",
    "CONTACT_MAX_ATTRIBUTES",
    "CONTACT_ATTRIBUTE_MAX_CHARS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"Setting {_name} is malformed: expected a positive number, got {globals()[_name]}")

# --- Security (secure by default outside DEBUG; `manage.py check --deploy` is clean) ---------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = _setting("SECURE_SSL_REDIRECT", env.bool, default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = _setting("SECURE_HSTS_SECONDS", env.int, default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Browser policies (django-csp, django-permissions-policy) -------------------------------------
# Scripts, styles, fonts and fetches from this site only, nothing inline: a value that ever reaches a page
# unescaped still cannot run. No page is framed (as X-Frame-Options), no <base> or plugin, forms post here.
# img-src allows data: for the icons that Swagger UI's stylesheet embeds. Every page keeps to this policy
# (smscampaigns/tests/test_hostile_input.py checks the admin's pages, the browser tests watch the console).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Browser features no page here uses, switched off for the page and anything it embeds.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}


# --- REST framework -------------------------------------------------------------------------------
def _rate(name: str, default: str, counted: str) -> str:
    """A rate such as 600/minute; a malformed one stops start-up with one line that names it."""
    value = env.str(name, default=default)
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(
            f"Setting {name} is malformed: expected {counted} per period such as {default}, got {value!r}"
        )
    return value


# Requests per user (per client address before login), e.g. 600/minute; over it the API answers 429.
API_THROTTLE_RATE = _rate("API_THROTTLE_RATE", "600/minute", "requests")
# Wrong API tokens allowed per client address, e.g. 10/minute; over it every token from there gets 429.
API_AUTH_FAILURE_RATE = _rate("API_AUTH_FAILURE_RATE", "10/minute", "attempts")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "smscampaigns.api.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["smscampaigns.api.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["smscampaigns.api.UserThrottle"],
    "DEFAULT_PAGINATION_CLASS": "smscampaigns.api.PagePagination",
    "EXCEPTION_HANDLER": "smscampaigns.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["smscampaigns.api.JSONParser"],
    "DEFAULT_METADATA_CLASS": "smscampaigns.api.ApiMetadata",
    "DEFAULT_SCHEMA_CLASS": "smscampaigns.api_views.ApiAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "smscampaigns API",
    "DESCRIPTION": (
        "Contacts, lists, suppressions and SMS campaigns sent through Plivo. Authenticate with "
        "`Authorization: Token <key>` (`python manage.py create_api_token USERNAME` prints one) or a session. "
        'Every error answers `{"detail": "...", "errors": {"field": ["..."]}}`.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Document that required text may not be blank (minLength 1), as the serializers enforce.
    "ENFORCE_NON_BLANK_FIELDS": True,
    # Two choice sets share the field name "reason": each named here rather than by a hash.
    "ENUM_NAME_OVERRIDES": {
        "ReasonEnum": "contacts.models.Suppression.Reason",
        "RecipientReasonEnum": "campaigns.apis.RECIPIENT_REASONS",
    },
    # Swagger UI from the drf-spectacular-sidecar package, served as our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging --------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = build_logging_config(json_lines=not DEBUG, level=LOG_LEVEL)

# --- Production never sends into the void -----------------------------------------------------------
# With DEBUG off, settings under which campaigns would "complete" with nothing sent stop every process at
# start-up (web, worker, beat, every manage.py command, `check --deploy` included) with one line naming the
# setting. SMS_DELIVERY_REQUIRED=false lifts this for a production-like install that must not text anyone:
# the test suite, the drills and benchmarks, a staging copy.
SMS_DELIVERY_REQUIRED = _setting("SMS_DELIVERY_REQUIRED", env.bool, default=not DEBUG)
# Backends that accept a message and deliver it to no phone.
NON_DELIVERING_SMS_BACKENDS = frozenset(
    f"sends.backends.{name}.SmsBackend" for name in ("console", "locmem", "filebased")
)


def _delivery_problem() -> str:
    if not SMS_BACKEND.strip():
        return "Setting SMS_BACKEND is required when DEBUG is off: sends.backends.plivo.SmsBackend."
    if SMS_BACKEND.strip() in NON_DELIVERING_SMS_BACKENDS:
        return (
            f"Setting SMS_BACKEND is {SMS_BACKEND}, which delivers nothing, and DEBUG is off: use "
            f"sends.backends.plivo.SmsBackend (or SMS_DELIVERY_REQUIRED=false where nobody may be texted)."
        )
    for name in ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN", "PLIVO_SENDER"):
        if not globals()[name].strip():
            return f"Setting {name} is required when DEBUG is off."
    if not re.fullmatch(r"https://[^/\s]+(/\S*)?", PUBLIC_BASE_URL):
        return (
            f"Setting PUBLIC_BASE_URL must be an https:// URL when DEBUG is off (Plivo calls it back), "
            f"got {PUBLIC_BASE_URL!r}."
        )
    return ""


if SMS_DELIVERY_REQUIRED and (_problem := _delivery_problem()):
    raise ImproperlyConfigured(_problem)

# --- Error tracking (smscampaigns/sentry.py) --------------------------------------------------------------
# Sentry with its Django and Celery integrations when SENTRY_DSN is set; phone numbers and secrets are scrubbed
# from every event before it is sent. Unset: nothing is initialised and nothing is sent.
SENTRY_DSN = env.str("SENTRY_DSN", default="").strip()
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
SENTRY_TRACES_SAMPLE_RATE = _setting("SENTRY_TRACES_SAMPLE_RATE", env.float, default=0.0)
if SENTRY_DSN:
    from smscampaigns.sentry import sentry_init

    sentry_init(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT, traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE)
