"""The A/B test page of a draft campaign: its 2 to 5 variants, each previewed with its own segments, encoding
and cost, and how the winner is chosen. Saved through campaigns.services.ab_tests, as the API saves it."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from campaigns.models import ABTest, Campaign, CampaignVariant, SenderPool
from campaigns.selectors import campaign_variants_preview
from campaigns.services.ab_tests import (
    LABELS,
    ABSettings,
    VariantSender,
    campaign_ab_test_remove,
    campaign_ab_test_set,
)
from smscampaigns.errors import ApplicationError

CHANGE_PERMISSION = "campaigns.change_campaign"


def _variant_field(label: str, *, required: bool) -> forms.CharField:
    # data-segment-counter: the live segment counter of the campaign body, under each variant's text.
    widget = forms.Textarea(attrs={"rows": 3, "cols": 80, "data-segment-counter": ""})
    return forms.CharField(label=f"Variant {label}", widget=widget, max_length=1600, required=required)


class ABTestForm(forms.Form):
    variant_a = _variant_field("A", required=True)
    variant_b = _variant_field("B", required=True)
    variant_c = _variant_field("C", required=False)
    variant_d = _variant_field("D", required=False)
    variant_e = _variant_field("E", required=False)
    test_percent = forms.IntegerField(
        label="Test share (%)",
        min_value=1,
        max_value=99,
        required=False,
        help_text="Split evenly and at random between the variants; the rest gets the winner. Blank: split "
        "everyone (a plain split test, no winner to wait for).",
    )
    metric = forms.ChoiceField(choices=ABTest.Metric.choices, initial=ABTest.Metric.CLICK_RATE)
    wait_minutes = forms.IntegerField(
        min_value=0, max_value=7 * 24 * 60, initial=120, help_text="After the test share was sent"
    )
    confidence_percent = forms.IntegerField(label="Confidence (%)", min_value=50, max_value=99, initial=95)
    fallback = forms.ChoiceField(
        choices=ABTest.Fallback.choices, help_text="Who wins when the leader is not significant"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each variant's own sender under its text; a pool to choose only once there is one.
        with_pools = SenderPool.objects.exists()
        order = []
        for label in LABELS:
            key = label.lower()
            self.fields[f"variant_{key}"].widget.attrs["data-max-segments"] = settings.SMS_MAX_SEGMENTS
            self.fields[f"sender_{key}"] = forms.CharField(
                label=f"Sender of {label}",
                max_length=32,
                required=False,
                help_text="A number or alphanumeric id; blank sends it from the campaign's sender",
            )
            order += [f"variant_{key}", f"sender_{key}"]
            if with_pools:
                self.fields[f"sender_pool_{key}"] = forms.ModelChoiceField(
                    SenderPool.objects.all(),
                    label=f"Sender pool of {label}",
                    required=False,
                    help_text="Or send it from a pool (not both)",
                )
                order.append(f"sender_pool_{key}")
        self.order_fields(order)

    def _given(self) -> list[str]:
        """The labels of the variants with a text, in order."""
        return [label for label in LABELS if self.cleaned_data.get(f"variant_{label.lower()}", "").strip()]

    def bodies(self) -> list[str]:
        return [self.cleaned_data[f"variant_{label.lower()}"] for label in self._given()]

    def senders(self) -> list[VariantSender]:
        return [
            VariantSender(
                sender=self.cleaned_data.get(f"sender_{label.lower()}", "").strip(),
                sender_pool=self.cleaned_data.get(f"sender_pool_{label.lower()}"),
            )
            for label in self._given()
        ]

    def ab_settings(self) -> ABSettings:
        data = self.cleaned_data
        return ABSettings(
            test_percent=data["test_percent"],
            metric=data["metric"],
            wait_minutes=data["wait_minutes"],
            confidence_percent=data["confidence_percent"],
            fallback=data["fallback"],
        )


def _initial(campaign: Campaign) -> dict:
    ab_test = ABTest.objects.filter(campaign=campaign).first()
    if ab_test is None:
        return {"variant_a": campaign.body}
    initial = {}
    for variant in CampaignVariant.objects.filter(campaign=campaign):
        key = variant.label.lower()
        initial[f"variant_{key}"], initial[f"sender_{key}"] = variant.body, variant.sender
        initial[f"sender_pool_{key}"] = variant.sender_pool_id
    for name in ("test_percent", "metric", "wait_minutes", "confidence_percent", "fallback"):
        initial[name] = getattr(ab_test, name)
    return initial


class CampaignABTestAdminMixin:
    """For CampaignAdmin: `ab_test_urls()` in get_urls."""

    def ab_test_urls(self):
        view = self.admin_site.admin_view(self.ab_test_view)
        return [path("<int:pk>/ab-test/", view, name="campaigns_campaign_ab_test")]

    def ab_test_view(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        may_edit = request.user.has_perm(CHANGE_PERMISSION) and campaign.is_editable
        form = ABTestForm(initial=_initial(campaign))
        if request.method == "POST":
            if not may_edit:
                raise PermissionDenied
            if "remove" in request.POST:
                campaign_ab_test_remove(campaign=campaign, actor=request.user)
                messages.success(request, "The A/B test was removed; the campaign sends variant A's text.")
                return redirect("admin:campaigns_campaign_change", campaign.pk)
            form = ABTestForm(request.POST)
            if form.is_valid():
                try:
                    campaign_ab_test_set(
                        campaign=campaign,
                        bodies=form.bodies(),
                        senders=form.senders(),
                        settings=form.ab_settings(),
                        actor=request.user,
                    )
                except ApplicationError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                else:
                    messages.success(request, "A/B test saved. Each variant is previewed below.")
                    return redirect("admin:campaigns_campaign_ab_test", campaign.pk)
        has_test = ABTest.objects.filter(campaign=campaign).exists()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": campaign,
            "title": f"A/B test of {campaign}",
            "form": form,
            "may_edit": may_edit,
            "has_test": has_test,
            "variant_previews": campaign_variants_preview(campaign=campaign, now=timezone.now()) if has_test else [],
        }
        return TemplateResponse(request, "admin/campaigns/campaign/ab_test.html", context)
