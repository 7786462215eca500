"""The public sign-up page of a list (/join/<slug>/): a person asks to join and confirms by replying Y.

It works without JavaScript (a plain form post, errors beside the field) and inside another site's iframe
(frame-ancestors from JOIN_FRAME_ANCESTORS). It is exempt from CSRF: there is no session or account to ride
on, and a framed page on another site does not get the CSRF cookie back in today's browsers; the honeypot, the
per-address limit and the confirming reply are what keep abuse out.
"""

import phonenumbers
from django import forms
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from contacts.models import ContactList, SubscriptionRequest
from contacts.phones import normalize_phone
from contacts.services.subscriptions import Evidence, disclosure_for, subscription_request_start
from smscampaigns.client_address import client_address
from smscampaigns.errors import ApplicationError


def _regions() -> list[tuple[str, str]]:
    codes = sorted(phonenumbers.SUPPORTED_REGIONS)
    return [(code, f"{code} (+{phonenumbers.country_code_for_region(code)})") for code in codes]


class JoinForm(forms.Form):
    phone = forms.CharField(label="Mobile number", max_length=40, widget=forms.TextInput(attrs={"type": "tel"}))
    country = forms.ChoiceField(label="Country", choices=_regions)
    consent = forms.BooleanField(label="I agree to receive texts as described above", required=True)
    # Left empty by people (it is hidden by the stylesheet and skipped by screen readers); bots fill it.
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("phone") and cleaned.get("country"):
            try:
                normalize_phone(cleaned["phone"], region=cleaned["country"])
            except ApplicationError as exc:
                self.add_error("phone", exc.message)
        return cleaned


def _rate_limited(request: HttpRequest) -> bool:
    """Whether this client address has used up its JOIN_RATE_LIMIT_PER_HOUR submissions (counting this one)."""
    limit = settings.JOIN_RATE_LIMIT_PER_HOUR
    if limit <= 0:
        return False
    hour = timezone.now().strftime("%Y%m%d%H")
    key = f"join-rate:{client_address(request)}:{hour}"
    cache.add(key, 0, timeout=3700)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3700)
        count = 1
    return count > limit


def _framable(response: HttpResponse) -> HttpResponse:
    response._csp_replace = {"frame-ancestors": list(settings.JOIN_FRAME_ANCESTORS)}
    return response


def _list_for(slug: str) -> ContactList:
    contact_list = ContactList.objects.filter(slug=slug).first() if slug else None
    if contact_list is None:
        raise Http404("no such sign-up page")
    return contact_list


@csrf_exempt
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str) -> HttpResponse:
    contact_list = _list_for(slug)
    disclosure = disclosure_for(contact_list)
    status = 200
    if request.method == "POST":
        form = JoinForm(request.POST)
        if _rate_limited(request):
            form.add_error(None, "Too many sign-ups from your network: try again in an hour.")
            status = 429
        elif form.is_valid():
            if form.cleaned_data["website"]:
                return redirect("join-sent", slug=slug)  # a bot: answered as a person would be, nothing done
            if form.cleaned_data["version"] != contact_list.disclosure_version:
                form.add_error(
                    "consent", "The wording above has changed since the page was loaded: read it and tick again."
                )
            else:
                try:
                    subscription_request_start(
                        phone_number=form.cleaned_data["phone"],
                        region=form.cleaned_data["country"],
                        contact_list=contact_list,
                        evidence=Evidence(
                            source=SubscriptionRequest.Source.FORM,
                            detail=f"sign-up page /join/{slug}/",
                            text=disclosure,
                            disclosure_version=contact_list.disclosure_version,
                            page_url=request.build_absolute_uri(),
                            ip=client_address(request),
                            user_agent=request.META.get("HTTP_USER_AGENT", ""),
                        ),
                    )
                except ApplicationError as exc:
                    refused = exc.code in ("suppressed", "opted_out_by_person")
                    form.add_error("phone", "This number cannot be signed up here." if refused else exc.message)
                else:
                    return redirect("join-sent", slug=slug)
        status = status if status != 200 else 400  # the form again, with its errors beside the fields
    else:
        form = JoinForm(initial={"country": settings.DEFAULT_PHONE_REGION, "version": contact_list.disclosure_version})
    context = {"contact_list": contact_list, "disclosure": disclosure, "form": form}
    return _framable(render(request, "contacts/join/form.html", context, status=status))


@xframe_options_exempt
@require_http_methods(["GET"])
def join_sent(request: HttpRequest, slug: str) -> HttpResponse:
    contact_list = _list_for(slug)
    return _framable(render(request, "contacts/join/sent.html", {"contact_list": contact_list}))
