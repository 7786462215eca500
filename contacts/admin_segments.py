"""The segments admin: a rule builder (contacts/static/contacts/segment-builder.js) over the rules' JSON, with
a live count the page fetches from this admin's count URL as staff edit the rules."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from contacts.models import Segment
from contacts.segment_rules import MAX_RULES_CHARS, segment_rules_describe
from contacts.selectors import segment_count
from contacts.services.segments import segment_create, segment_delete, segment_update, segment_validate
from smscampaigns.errors import ApplicationError
from smscampaigns.service_admin import ServiceModelAdmin, adopt_saved, form_error_from

EMPTY_RULES = {"match": "all", "groups": [{"match": "all", "conditions": []}]}


class SegmentForm(forms.ModelForm):
    # The JSON the rule builder writes; without JavaScript, staff may edit it by hand.
    rules = forms.JSONField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "class": "segment-rules-json"}),
        help_text="Groups of conditions; the builder above writes this. See the README for the format.",
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name") is not None and "rules" in cleaned:
            try:
                cleaned["rules"] = segment_validate(
                    name=cleaned["name"], rules=cleaned["rules"], segment=self.instance if self.instance.pk else None
                )
            except ApplicationError as exc:
                form_error_from(self, exc)
        return cleaned


class SegmentAdmin(ServiceModelAdmin):
    form = SegmentForm
    list_display = ["name", "description", "updated_at"]
    search_fields = ["name"]
    change_form_template = "admin/contacts/segment/change_form.html"

    class Media:
        js = ["contacts/segment-builder.js"]
        css = {"all": ["contacts/segment-builder.css"]}

    def get_urls(self):
        count = self.admin_site.admin_view(require_POST(self.count_view))
        return [path("count/", count, name="contacts_segment_count"), *super().get_urls()]

    def get_changeform_initial_data(self, request):
        return {**super().get_changeform_initial_data(request), "rules": EMPTY_RULES}

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Only where the rules are an input: a read-only page shows them as stored.
        if add or self.has_change_permission(request, obj):
            context["rule_builder"] = {
                "conditions": json.dumps(segment_rules_describe()),
                "count_url": reverse("admin:contacts_segment_count"),
            }
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def count_view(self, request):
        """How many contacts the rules posted (as the builder has them, saved or not) match now."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        text = request.POST.get("rules", "")
        try:
            if len(text) > MAX_RULES_CHARS:
                raise ApplicationError(f"the rules are too large (at most {MAX_RULES_CHARS} characters)")
            try:
                rules = json.loads(text)
            except ValueError:
                raise ApplicationError("the rules are not JSON") from None
            counted = segment_count(rules=rules)
        except ApplicationError as exc:
            return JsonResponse({"errors": (exc.errors or {}).get("rules", [exc.message])}, status=400)
        return JsonResponse({"count": counted.matching, "textable": counted.textable})

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            segment_update(
                segment=Segment.objects.get(pk=obj.pk),
                name=data["name"],
                description=data["description"],
                rules=data["rules"],
                actor=request.user,
            )
            obj.refresh_from_db()
        else:
            adopt_saved(
                obj,
                segment_create(
                    name=data["name"], description=data["description"], rules=data["rules"], actor=request.user
                ),
            )

    def delete_model(self, request, obj):
        segment_delete(segment=obj, actor=request.user)


admin.site.register(Segment, SegmentAdmin)
