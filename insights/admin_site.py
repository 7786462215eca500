"""The admin's front page: the marketing dashboard above the app list, and the app list in the order of a
marketer's work (campaigns, contacts, sends), the technical apps last, logins and tokens for superusers only."""

from django.contrib import admin

from insights.charts import day_bars
from insights.selectors import DEFAULT_PERIOD, PERIODS, dashboard

WORKFLOW = ("campaigns", "contacts", "sends")
TECHNICAL = ("audit", "auth", "authtoken", "axes")
SUPERUSERS_ONLY = ("auth", "authtoken", "axes")


def app_rank(app_label: str) -> tuple[int, int]:
    """Workflow apps first in their order, then the others (as Django sorts them), the technical ones last."""
    if app_label in WORKFLOW:
        return (0, WORKFLOW.index(app_label))
    if app_label in TECHNICAL:
        return (2, TECHNICAL.index(app_label))
    return (1, 0)


def period_of(request) -> int:
    """?days=7|30|90; anything else (typed in the address bar) is the default."""
    try:
        days = int(request.GET.get("days", DEFAULT_PERIOD))
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def dashboard_context(request) -> dict:
    if not request.user.has_perm("campaigns.view_campaign"):
        return {}
    board = dashboard(days=period_of(request))
    days = [d.day for d in board.series]
    return {
        "dashboard": board,
        "periods": PERIODS,
        "messages_chart": day_bars(
            days,
            [
                ("bar-delivered", "delivered", [d.delivered for d in board.series]),
                ("bar-failed", "failed", [d.failed for d in board.series]),
                ("bar-sent", "sent, no report yet", [max(d.sent - d.delivered - d.failed, 0) for d in board.series]),
            ],
        ),
        "cost_chart": day_bars(
            days, [("bar-cost", "cost", [float(d.cost) for d in board.series])], fmt=lambda v: f"{v:,.2f}"
        ),
        "audience_chart": day_bars(
            days,
            [
                ("bar-gained", "gained", [d.gained for d in board.series]),
                ("bar-lost", "lost", [d.lost for d in board.series]),
            ],
            diverging=True,
        ),
    }


class BackOfficeAdminSite(admin.AdminSite):
    index_template = "admin/insights/index.html"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if not request.user.is_superuser:
            apps = [app for app in apps if app["app_label"] not in SUPERUSERS_ONLY]
        return sorted(apps, key=lambda app: app_rank(app["app_label"]))

    def index(self, request, extra_context=None):
        return super().index(request, {**dashboard_context(request), **(extra_context or {})})
