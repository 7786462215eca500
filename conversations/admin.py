"""The inbox in the admin: the list of conversations (unread first, filters, search), one conversation's
timeline with the reply form, assignment, the done state and notes, and the JSON the pages poll."""

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_POST

from audit.admin import ReadOnlyAdmin
from conversations.models import INBOX_ORDER, Conversation, Reply
from conversations.selectors import (
    INBOX_FILTERS,
    conversation_cost,
    conversation_timeline,
    conversations_inbox,
    inbox_filter,
    inbox_unread_count,
    replies_cost,
    reply_check,
)
from conversations.services import (
    conversation_mark_read,
    conversation_note_add,
    conversation_reply_send,
    conversation_update,
)
from sends.admin import CampaignFilter
from smscampaigns.errors import ApplicationError
from smscampaigns.service_admin import form_error_from

REPLY_MAX_CHARACTERS = 1600


class ShowFilter(admin.SimpleListFilter):
    title = "show"
    parameter_name = "show"

    def lookups(self, request, model_admin):
        return list(INBOX_FILTERS.items())

    def queryset(self, request, queryset):
        return inbox_filter(queryset, show=self.value() or "", user=request.user)


class ReceivedCampaignFilter(CampaignFilter):
    """Conversations with contacts who received one campaign."""

    title = "received campaign"

    def queryset(self, request, queryset):
        selected = self.campaign_id()
        return queryset if selected is None else inbox_filter(queryset, campaign_id=selected)


def staff_choices():
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


class ReplyForm(forms.Form):
    body = forms.CharField(
        max_length=REPLY_MAX_CHARACTERS,
        label="Reply",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60, "data-segment-counter": ""}),
    )
    confirm_quiet_hours = forms.BooleanField(required=False, label="Send it now, during their quiet hours")
    client_token = forms.CharField(max_length=64, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    body = forms.CharField(max_length=2000, label="Note", widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["who", "unread", "last_text_shown", "status", "assigned_to", "last_message_at"]
    list_display_links = ["who"]
    list_filter = [ShowFilter, ReceivedCampaignFilter, "status"]
    search_fields = ["contact__phone_number"]
    search_help_text = "A number in any format, or a name"
    actions = None
    show_full_result_count = False
    change_list_template = "admin/conversations/conversation/change_list.html"

    class Media:
        css = {"all": ["conversations/inbox.css"]}
        js = ["campaigns/segment-counter.js", "conversations/conversation.js"]

    def get_queryset(self, request):
        return conversations_inbox(user=request.user)

    def get_ordering(self, request):
        return list(INBOX_ORDER)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return inbox_filter(queryset, search=search_term, user=request.user), False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A record of who talked with whom: it outlives even the contact (erasing them leaves it anonymous).
        return False

    @admin.display(description="Contact", ordering="contact__last_name")
    def who(self, obj):
        if obj.contact is None:
            return "(erased contact)"
        name = f"{obj.contact.first_name} {obj.contact.last_name}".strip()
        return f"{name} ({obj.contact.phone_number})" if name else str(obj.contact.phone_number)

    @admin.display(description="Unread", ordering="unread_count")
    def unread(self, obj):
        return obj.unread_count or ""

    @admin.display(description="Last text")
    def last_text_shown(self, obj):
        text = obj.last_text or ""
        return text if len(text) <= 80 else text[:79] + "…"

    def changelist_view(self, request, extra_context=None):
        month = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        extra_context = {**(extra_context or {}), "replies_cost_month": replies_cost(since=month)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("unread/", wrap(require_GET(self.unread_view)), name=f"{prefix}_unread"),
            path(
                "<path:object_id>/messages/",
                wrap(require_GET(self.messages_view)),
                name=f"{prefix}_messages",
            ),
            path("<path:object_id>/reply/", wrap(require_POST(self.reply_view)), name=f"{prefix}_reply"),
            path("<path:object_id>/note/", wrap(require_POST(self.note_view)), name=f"{prefix}_note"),
            *super().get_urls(),
        ]

    # --- the conversation page: Django's change form (assignment, done) below the timeline and the reply --

    fields = ["assigned_to", "status"]
    change_form_template = "admin/conversations/conversation/change_form.html"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assigned_to":
            kwargs["queryset"] = staff_choices()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        conversation_update(
            conversation=Conversation.objects.get(pk=obj.pk),
            assigned_to=obj.assigned_to,
            status=obj.status,
            actor=request.user,
        )

    def _conversation(self, request, object_id) -> Conversation:
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            pk = int(object_id)
        except ValueError:
            raise Http404("no such conversation") from None
        return get_object_or_404(Conversation.objects.select_related("contact", "assigned_to"), pk=pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self._conversation(request, object_id)
        if request.method == "GET":  # reading it, not saving the form below it
            conversation_mark_read(conversation=conversation)
        contact = conversation.contact
        context = {
            "conversation": conversation,
            "contact": contact,
            "may_reply": contact is not None and request.user.has_perm(Conversation.REPLY_PERMISSION),
            "may_note": self.has_change_permission(request, conversation),
            "reply_form": ReplyForm(initial={"client_token": uuid.uuid4().hex}),
            "note_form": NoteForm(),
            "messages_url": reverse("admin:conversations_conversation_messages", args=[conversation.pk]),
            "reply_url": reverse("admin:conversations_conversation_reply", args=[conversation.pk]),
            "note_url": reverse("admin:conversations_conversation_note", args=[conversation.pk]),
            "max_segments": settings.SMS_MAX_SEGMENTS,
            "inbox_poll_seconds": settings.INBOX_POLL_SECONDS,
            **(extra_context or {}),
        }
        if contact is not None:
            context |= {
                "title": f"Conversation with {self.who(conversation)}",
                "timeline": conversation_timeline(contact=contact),
                "check": reply_check(contact=contact),
                "cost": conversation_cost(contact=contact),
            }
        return super().change_view(request, object_id, form_url, context)

    def _shown_again(self, request, object_id, **forms_shown):
        """The conversation page again with a refused form and its errors (the typed text kept)."""
        request.method = "GET"  # show the page; the admin's own form was not what was posted
        response = self.change_view(request, object_id, extra_context=forms_shown)
        response.status_code = 400
        return response

    def reply_view(self, request, object_id):
        conversation = self._conversation(request, object_id)
        if not request.user.has_perm(Conversation.REPLY_PERMISSION):
            raise PermissionDenied
        if conversation.contact is None:
            raise Http404("the contact of this conversation was erased")
        form = ReplyForm(request.POST)
        if form.is_valid():
            try:
                outcome = conversation_reply_send(
                    contact=conversation.contact,
                    body=form.cleaned_data["body"],
                    confirm_quiet_hours=form.cleaned_data["confirm_quiet_hours"],
                    client_token=form.cleaned_data["client_token"],
                    actor=request.user,
                )
            except ApplicationError as exc:
                form_error_from(form, exc)
            else:
                reply = outcome.reply
                if reply.status in (Reply.Status.FAILED, Reply.Status.UNKNOWN):
                    messages.error(request, f"The reply was not sent: {reply.error_message or reply.status}")
                elif outcome.replayed:
                    messages.info(request, "This reply was already sent; it was not sent again.")
                else:
                    messages.success(request, f"Reply sent to {reply.to_number}.")
                return redirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        return self._shown_again(request, object_id, reply_form=form)

    def note_view(self, request, object_id):
        conversation = self._conversation(request, object_id)
        if not self.has_change_permission(request, conversation):
            raise PermissionDenied
        form = NoteForm(request.POST)
        if form.is_valid():
            try:
                conversation_note_add(conversation=conversation, body=form.cleaned_data["body"], actor=request.user)
            except ApplicationError as exc:
                form_error_from(form, exc)
            else:
                messages.success(request, "Note added.")
                return redirect(reverse("admin:conversations_conversation_change", args=[conversation.pk]))
        return self._shown_again(request, object_id, note_form=form)

    def messages_view(self, request, object_id):
        """The timeline as JSON, for the open conversation page to poll; opening it reads the texts."""
        conversation = self._conversation(request, object_id)
        conversation_mark_read(conversation=conversation)
        timeline = conversation_timeline(contact=conversation.contact) if conversation.contact else []
        items = [
            {
                "key": item.key,
                "direction": item.direction,
                "kind": item.kind,
                "label": item.label,
                "body": item.body,
                "at": item.at.isoformat(),
                "at_display": date_format(timezone.localtime(item.at), "DATETIME_FORMAT"),
                "status": item.status,
                "status_label": item.status_label,
                "detail": item.detail,
            }
            for item in timeline
        ]
        unread = inbox_unread_count()
        return JsonResponse(
            {"items": items, "unread": {"conversations": unread.conversations, "messages": unread.messages}}
        )

    def unread_view(self, request):
        """How many conversations and texts are unread: the navigation's badge and the tab's title poll it."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        unread = inbox_unread_count()
        return JsonResponse({"conversations": unread.conversations, "messages": unread.messages})


@admin.register(Reply)
class ReplyAdmin(ReadOnlyAdmin):
    """Every text sent outside campaigns, staff replies and automatic answers, with status and cost."""

    list_display = ["created_at", "kind", "to_number", "contact", "author", "status", "segments", "cost"]
    list_filter = ["kind", "status", "created_at"]
    search_fields = ["to_number"]
    list_select_related = ["contact", "author"]
    raw_id_fields = ["contact", "author", "in_reply_to"]
