"""The whole REST API surface in one place: /api/v1/..., the OpenAPI schema and its Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from contacts import apis as contacts

v1 = [
    path("contacts/", contacts.ContactsApi.as_view(), name="contacts"),
    path("contacts/<int:pk>/", contacts.ContactApi.as_view(), name="contact"),
    path("contacts/<int:pk>/opt-out/", contacts.ContactOptOutApi.as_view(), name="contact-opt-out"),
    path("contacts/<int:pk>/opt-in/", contacts.ContactOptInApi.as_view(), name="contact-opt-in"),
    path("lists/", contacts.ContactListsApi.as_view(), name="lists"),
    path("lists/<int:pk>/", contacts.ContactListApi.as_view(), name="list"),
    path("lists/<int:pk>/contacts/", contacts.ContactListMembersApi.as_view(), name="list-contacts"),
    path("suppressions/", contacts.SuppressionsApi.as_view(), name="suppressions"),
    path("suppressions/<int:pk>/", contacts.SuppressionDeleteApi.as_view(), name="suppression"),
]

urlpatterns = [
    path("v1/", include((v1, "api"), namespace="v1")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
