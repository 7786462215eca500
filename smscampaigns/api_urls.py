"""The whole REST API surface in one place: /api/v1/..., the OpenAPI schema and its Swagger UI."""

from django.http import JsonResponse
from django.urls import Resolver404, include, path, re_path, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns import apis as campaigns
from contacts import apis as contacts
from contacts import apis_segments as segments
from contacts import apis_subscriptions as subscriptions
from conversations import apis as conversations
from insights import apis as insights
from links import apis as links
from sends import apis as sends

v1 = [
    path("contacts/", contacts.ContactsApi.as_view(), name="contacts"),
    path("contacts/<int:pk>/", contacts.ContactApi.as_view(), name="contact"),
    path("contacts/<int:pk>/opt-out/", contacts.ContactOptOutApi.as_view(), name="contact-opt-out"),
    path("contacts/<int:pk>/opt-in/", contacts.ContactOptInApi.as_view(), name="contact-opt-in"),
    path("contacts/<int:pk>/lookup/", sends.ContactLookupApi.as_view(), name="contact-lookup"),
    path("contacts/import/", contacts.ContactImportStartApi.as_view(), name="contacts-import"),
    path("contacts/import/<int:pk>/", contacts.ContactImportRetrieveApi.as_view(), name="contact-import"),
    path(
        "contacts/import/<int:pk>/errors/", contacts.ContactImportErrorListApi.as_view(), name="contact-import-errors"
    ),
    path("lists/", contacts.ContactListsApi.as_view(), name="lists"),
    path("lists/<int:pk>/", contacts.ContactListApi.as_view(), name="list"),
    path("lists/<int:pk>/contacts/", contacts.ContactListMembersApi.as_view(), name="list-contacts"),
    path("custom-fields/", contacts.CustomFieldsApi.as_view(), name="custom-fields"),
    path("custom-fields/<int:pk>/", contacts.CustomFieldApi.as_view(), name="custom-field"),
    path("tags/", contacts.TagsApi.as_view(), name="tags"),
    path("tags/<int:pk>/", contacts.TagApi.as_view(), name="tag"),
    path("lists/<int:pk>/lookup/", sends.ListLookupApi.as_view(), name="list-lookup"),
    path("lookups/<int:pk>/", sends.LookupRunApi.as_view(), name="lookup"),
    path("subscriptions/", subscriptions.SubscriptionsApi.as_view(), name="subscriptions"),
    path("suppressions/", contacts.SuppressionsApi.as_view(), name="suppressions"),
    path("suppressions/<int:pk>/", contacts.SuppressionDeleteApi.as_view(), name="suppression"),
    path("segments/", segments.SegmentsApi.as_view(), name="segments"),
    path("segments/<int:pk>/", segments.SegmentApi.as_view(), name="segment"),
    path("segments/<int:pk>/count/", segments.SegmentCountApi.as_view(), name="segment-count"),
    path("campaigns/", campaigns.CampaignsApi.as_view(), name="campaigns"),
    path("campaigns/<int:pk>/", campaigns.CampaignApi.as_view(), name="campaign"),
    path("campaigns/<int:pk>/send/", campaigns.CampaignSendApi.as_view(), name="campaign-send"),
    path("campaigns/<int:pk>/schedule/", campaigns.CampaignScheduleApi.as_view(), name="campaign-schedule"),
    path("campaigns/<int:pk>/pause/", campaigns.CampaignPauseApi.as_view(), name="campaign-pause"),
    path("campaigns/<int:pk>/resume/", campaigns.CampaignResumeApi.as_view(), name="campaign-resume"),
    path("campaigns/<int:pk>/cancel/", campaigns.CampaignCancelApi.as_view(), name="campaign-cancel"),
    path("campaigns/<int:pk>/stats/", campaigns.CampaignStatsApi.as_view(), name="campaign-stats"),
    path("campaigns/<int:pk>/preview/", campaigns.CampaignPreviewApi.as_view(), name="campaign-preview"),
    path("campaigns/<int:pk>/test/", sends.CampaignTestSendApi.as_view(), name="campaign-test"),
    path("campaigns/<int:pk>/sends/", sends.CampaignSendListApi.as_view(), name="campaign-sends"),
    path("campaigns/<int:pk>/links/", links.CampaignLinksApi.as_view(), name="campaign-links"),
    path("campaigns/<int:pk>/variants/", sends.CampaignVariantsApi.as_view(), name="campaign-variants"),
    path(
        "campaigns/<int:pk>/variants/decide/",
        sends.CampaignVariantsDecideApi.as_view(),
        name="campaign-variants-decide",
    ),
    path("campaigns/<int:pk>/export/", insights.CampaignResultsExportApi.as_view(), name="campaign-export"),
    path("inbound/", sends.InboundMessageListApi.as_view(), name="inbound"),
    path("inbound/<int:pk>/", sends.InboundMessageRetrieveApi.as_view(), name="inbound-message"),
    path("conversations/", conversations.ConversationsApi.as_view(), name="conversations"),
    path("conversations/<int:contact_id>/", conversations.ConversationApi.as_view(), name="conversation"),
    path(
        "conversations/<int:contact_id>/reply/",
        conversations.ConversationReplyApi.as_view(),
        name="conversation-reply",
    ),
]


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with nothing inline: its start-up script is fetched from this URL (?script), its page styles
    from a stylesheet, so it runs under the Content-Security-Policy without 'unsafe-inline'."""

    template_name = "swagger_ui.html"


@csrf_exempt  # else a POST to an unknown path would get the HTML CSRF page instead of this 404
def api_not_found(request, *args, **kwargs):
    """Unknown /api/ paths answer in the API's error format, not with the HTML 404 page."""
    detail = "Not found."
    if not request.path.endswith("/"):
        try:
            if resolve(request.path + "/").func is not api_not_found:
                detail = f"Not found. Did you mean {request.path}/ (with the trailing slash)?"
        except Resolver404:
            pass
    return JsonResponse({"detail": detail, "errors": {}}, status=404)


urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"", api_not_found),
]
