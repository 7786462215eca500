"""The contacts part of the REST API: contacts, lists, suppressions, custom fields, tags. Every write goes
through contacts.services.

One view class per operation with its own input and output serializers; where several operations share a
URL (GET and POST on contacts/), a small class joins their views.
"""

import django_filters
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from contacts.models import (
    ConsentEvent,
    Contact,
    ContactImport,
    ContactImportError,
    ContactList,
    CustomField,
    LineType,
    Suppression,
    Tag,
)
from contacts.selectors import contacts_matching, number_q
from contacts.services.consent import ConsentContext, contact_opt_in, contact_opt_out
from contacts.services.contacts import contact_create, contact_delete, contact_update
from contacts.services.custom_fields import custom_field_create, custom_field_delete, custom_field_update
from contacts.services.imports import contact_import_start
from contacts.services.lists import (
    contact_list_create,
    contact_list_delete,
    contact_list_members_change,
    contact_list_update,
)
from contacts.services.suppressions import suppression_add, suppression_remove
from contacts.services.tags import (
    TAG_NAME_MAX_CHARS,
    TAGS_PER_CONTACT_MOST,
    tag_create,
    tag_delete,
    tag_update,
    tags_get_or_create,
)
from contacts.uploads import upload_size_guard, upload_too_large
from smscampaigns.api import MAX_ID, ApiErrorSerializer, StrictCharField, StrictFilterSet, StrictIntegerField, ids_field
from smscampaigns.api_views import ApiView


def _reject_nul(value):
    """PostgreSQL cannot store NUL in text or JSON: refuse it as input instead of failing on save."""
    if isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError("must not contain NUL (\\u0000) characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    if isinstance(value, list):
        for item in value:
            _reject_nul(item)


def attributes_field(**kwargs) -> serializers.DictField:
    return serializers.DictField(
        validators=[_reject_nul], help_text='Values for personalising messages, e.g. {"city": "Lyon"}', **kwargs
    )


def tags_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=TAG_NAME_MAX_CHARS, validators=[_reject_nul]),
        max_length=TAGS_PER_CONTACT_MOST,
        help_text='Tag names, e.g. ["vip", "walk-in"]; a tag that does not exist yet is created',
        **kwargs,
    )


def optional_text(max_length: int, help_text: str = "") -> StrictCharField:
    return StrictCharField(max_length=max_length, required=False, allow_blank=True, default="", help_text=help_text)


def _consent_context(request) -> ConsentContext:
    return ConsentContext.from_request(request, method=ConsentEvent.Method.API)


# --- Contacts -----------------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    phone_number = serializers.CharField(read_only=True, help_text="E.164, e.g. +14155550123")
    lists = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Ids of the lists it is on")
    tags = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name", help_text="Tag names")
    attributes = serializers.DictField(
        read_only=True, help_text="Personalisation values; a custom field's value is under its key, canonical"
    )
    # Declared so that the schema allows "" (never looked up): DRF drops allow_blank from read-only fields.
    line_type = serializers.ChoiceField(
        choices=LineType.choices,
        allow_blank=True,
        read_only=True,
        help_text="From the last carrier lookup: mobile, fixed, voip, toll-free, unknown; blank until looked up",
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone_number",
            "country",
            "first_name",
            "last_name",
            "timezone",
            "status",
            "lists",
            "tags",
            "attributes",
            "consent_source",
            "consent_text",
            "consented_at",
            "opted_out_at",
            "opt_out_source",
            "line_type",
            "carrier",
            "number_ported",
            "lookup_country",
            "looked_up_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "looked_up_at": {
                "help_text": "When the number was last looked up (reused until it is older than "
                "NUMBER_LOOKUP_MAX_AGE_DAYS)"
            },
        }


class ContactCreateSerializer(serializers.Serializer):
    phone_number = StrictCharField(
        max_length=64, help_text="Any format; national numbers are read in DEFAULT_PHONE_REGION"
    )
    first_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")
    timezone = StrictCharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="IANA name; blank: from the number"
    )
    attributes = attributes_field(required=False, default=dict)
    lists = ids_field(ContactList.objects.all(), required=False, default=list)
    tags = tags_field(required=False, default=list)
    consent_source = optional_text(
        255, "Where the person consented (e.g. 'checkout form'); without it the contact is unsubscribed"
    )
    consent_text = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)
    consented_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="When consent was given; default now"
    )

    def validate_consented_at(self, value):
        if value is not None and value > timezone.now():
            raise serializers.ValidationError("consent cannot be dated in the future")
        return value


class ContactUpdateSerializer(serializers.Serializer):
    phone_number = StrictCharField(max_length=64, required=False)
    first_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    last_name = StrictCharField(max_length=150, required=False, allow_blank=True)
    timezone = StrictCharField(max_length=64, required=False, allow_blank=True)
    attributes = attributes_field(required=False)
    lists = ids_field(ContactList.objects.all(), required=False)
    tags = tags_field(required=False)


class ContactOptOutSerializer(serializers.Serializer):
    source = StrictCharField(
        max_length=255, required=False, default="api", help_text="How the person opted out, e.g. 'phone call'"
    )


class ContactOptInSerializer(serializers.Serializer):
    consent_source = StrictCharField(max_length=255, help_text="Where the person consented again")
    consent_text = StrictCharField(required=False, allow_blank=True, default="", max_length=2000)


class ContactFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Contact.Status.choices)
    list = django_filters.ModelChoiceFilter(field_name="lists", queryset=ContactList.objects.all(), label="List id")
    search = django_filters.CharFilter(method="filter_search", label="A number in any format, or part of a name")

    class Meta:
        model = Contact
        fields = ["status", "list", "search"]

    def filter_search(self, queryset, name, value):
        return contacts_matching(queryset, value)


class _ContactView(ApiView):
    queryset = Contact.objects.prefetch_related("lists", "tags")


class ContactListApi(_ContactView):
    filterset_class = ContactFilter

    @extend_schema(operation_id="contacts_list", responses={200: ContactSerializer(many=True)})
    def get(self, request):
        """List contacts, newest first; filter by status, list, or a number in any format."""
        return self.paginated_response(self.get_queryset(), ContactSerializer)


class ContactCreateApi(_ContactView):
    @extend_schema(operation_id="contacts_create", request=ContactCreateSerializer, responses={201: ContactSerializer})
    def post(self, request):
        """Create a contact; the number is stored as E.164, and it is subscribed only with consent_source."""
        data = self.validated(ContactCreateSerializer, request.data)
        contact = contact_create(
            phone_number=data["phone_number"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            timezone_name=data["timezone"],
            attributes=data["attributes"],
            consent_source=data["consent_source"],
            consent_text=data["consent_text"],
            consented_at=data["consented_at"],
            lists=data["lists"],
            tags=tags_get_or_create(names=data["tags"]),
            actor=request.user,
            context=_consent_context(request),
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactsApi(ContactListApi, ContactCreateApi):  # contacts/
    pass


class ContactRetrieveApi(_ContactView):
    @extend_schema(operation_id="contacts_retrieve", responses={200: ContactSerializer})
    def get(self, request, pk):
        """One contact."""
        return Response(ContactSerializer(self.get_object()).data)


class ContactUpdateApi(_ContactView):
    @extend_schema(
        operation_id="contacts_update",
        request=ContactUpdateSerializer,
        responses={200: ContactSerializer},
    )
    def patch(self, request, pk):
        """Change details. Status and consent change only through opt-out/ and opt-in/."""
        contact = self.get_object()
        data = dict(self.validated(ContactUpdateSerializer, request.data))
        if "tags" in data:
            data["tags"] = tags_get_or_create(names=data["tags"])
        contact = contact_update(contact=contact, actor=request.user, **data)
        return Response(ContactSerializer(_ContactView.queryset.get(pk=contact.pk)).data)


class ContactDeleteApi(_ContactView):
    @extend_schema(operation_id="contacts_destroy", responses={204: None})
    def delete(self, request, pk):
        """Delete a contact; its past sends keep the number, and suppressions stay in force."""
        contact_delete(contact=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactApi(ContactRetrieveApi, ContactUpdateApi, ContactDeleteApi):  # contacts/{id}/
    pass


class ContactOptOutApi(_ContactView):
    required_permissions = ["contacts.change_contact"]

    @extend_schema(
        operation_id="contacts_opt_out",
        request=ContactOptOutSerializer,
        responses={200: ContactSerializer},
    )
    def post(self, request, pk):
        """Unsubscribe the contact and suppress the number."""
        contact = self.get_object()
        data = self.validated(ContactOptOutSerializer, request.data)
        contact = contact_opt_out(
            contact=contact, source=data["source"], actor=request.user, context=_consent_context(request)
        )
        return Response(ContactSerializer(contact).data)


class ContactOptInApi(_ContactView):
    required_permissions = ["contacts.change_contact"]

    @extend_schema(
        operation_id="contacts_opt_in",
        request=ContactOptInSerializer,
        responses={200: ContactSerializer, 409: ApiErrorSerializer},
    )
    def post(self, request, pk):
        """Subscribe again with new consent evidence. Refused (409) while the person's own opt-out stands (a
        STOP they texted, their carrier's opt-out): only they lift it, by texting START. Lifts an opt-out
        that staff made; refused while the number is on a do-not-call list."""
        contact = self.get_object()
        data = self.validated(ContactOptInSerializer, request.data)
        contact = contact_opt_in(
            contact=contact,
            consent_source=data["consent_source"],
            consent_text=data["consent_text"],
            actor=request.user,
            context=_consent_context(request),
        )
        return Response(ContactSerializer(contact).data)


# --- Lists ---------------------------------------------------------------------------------------------


class ContactListSerializer(serializers.ModelSerializer):
    contacts_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ContactList
        fields = ["id", "name", "description", "contacts_count", "created_at", "updated_at"]
        read_only_fields = fields


class ContactListWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000)


class ContactListMembersSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=10000,
        help_text="Contact ids to put on the list",
    )
    remove = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        default=list,
        max_length=10000,
        help_text="Contact ids to take off the list",
    )

    def _contacts(self, ids: list[int], field: str) -> list[Contact]:
        found = {c.pk: c for c in Contact.objects.filter(pk__in=ids).only("id")}
        missing = [str(pk) for pk in dict.fromkeys(ids) if pk not in found]
        if missing:
            raise serializers.ValidationError({field: [f"no contact with id {', '.join(missing)}"]})
        return list(found.values())

    def validate(self, attrs):
        return {"add": self._contacts(attrs["add"], "add"), "remove": self._contacts(attrs["remove"], "remove")}


class ContactListMembersResultSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Contacts put on the list (those already on it are not counted)")
    removed = serializers.IntegerField()
    contacts_count = serializers.IntegerField(help_text="Contacts on the list now")


class _ContactListView(ApiView):
    queryset = ContactList.objects.annotate(contacts_count=Count("memberships")).order_by("name")


def _list_with_count(contact_list: ContactList) -> ContactList:
    return _ContactListView.queryset.get(pk=contact_list.pk)


class ListFilter(StrictFilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = ContactList
        fields = ["search"]


class ContactListListApi(_ContactListView):
    filterset_class = ListFilter

    @extend_schema(operation_id="lists_list", responses={200: ContactListSerializer(many=True)})
    def get(self, request):
        """List contact lists with their size."""
        return self.paginated_response(self.get_queryset(), ContactListSerializer)


class ContactListCreateApi(_ContactListView):
    @extend_schema(
        operation_id="lists_create", request=ContactListWriteSerializer, responses={201: ContactListSerializer}
    )
    def post(self, request):
        """Create a contact list."""
        data = self.validated(ContactListWriteSerializer, request.data)
        contact_list = contact_list_create(
            name=data["name"], description=data.get("description", ""), actor=request.user
        )
        return Response(ContactListSerializer(_list_with_count(contact_list)).data, status=status.HTTP_201_CREATED)


class ContactListsApi(ContactListListApi, ContactListCreateApi):  # lists/
    pass


class ContactListRetrieveApi(_ContactListView):
    @extend_schema(operation_id="lists_retrieve", responses={200: ContactListSerializer})
    def get(self, request, pk):
        """One contact list."""
        return Response(ContactListSerializer(self.get_object()).data)


class ContactListUpdateApi(_ContactListView):
    @extend_schema(
        operation_id="lists_update",
        request=ContactListWriteSerializer(partial=True),
        responses={200: ContactListSerializer},
    )
    def patch(self, request, pk):
        """Rename a list or change its description."""
        contact_list = self.get_object()
        data = self.validated(ContactListWriteSerializer, request.data, partial=True)
        contact_list_update(contact_list=contact_list, actor=request.user, **data)
        return Response(ContactListSerializer(_list_with_count(contact_list)).data)


class ContactListDeleteApi(_ContactListView):
    @extend_schema(operation_id="lists_destroy", responses={204: None})
    def delete(self, request, pk):
        """Delete the list; its contacts stay."""
        contact_list_delete(contact_list=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactListApi(ContactListRetrieveApi, ContactListUpdateApi, ContactListDeleteApi):  # lists/{id}/
    pass


class ContactListMembersApi(_ContactListView):
    required_permissions = ["contacts.change_contactlist"]

    @extend_schema(
        operation_id="lists_contacts_change",
        request=ContactListMembersSerializer,
        responses={200: ContactListMembersResultSerializer},
    )
    def post(self, request, pk):
        """Add and remove contacts in bulk, in one transaction; an unknown id refuses the whole call."""
        contact_list = self.get_object()
        data = self.validated(ContactListMembersSerializer, request.data)
        added, removed = contact_list_members_change(
            contact_list=contact_list, add=data["add"], remove=data["remove"], actor=request.user
        )
        count = _list_with_count(contact_list).contacts_count
        return Response({"added": added, "removed": removed, "contacts_count": count})


# --- Custom fields -------------------------------------------------------------------------------------


class CustomFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomField
        fields = ["id", "key", "label", "type", "choices", "description", "created_at", "updated_at"]
        read_only_fields = fields


class CustomFieldCreateSerializer(serializers.Serializer):
    key = StrictCharField(
        max_length=100,
        help_text="Lower-case letters, digits and _; the attribute name and placeholder ({{ score }}). An "
        "attribute of that name already held by contacts is promoted: every value must be valid",
    )
    label = StrictCharField(max_length=200)
    type = serializers.ChoiceField(choices=CustomField.Type.choices)
    choices = serializers.ListField(
        child=StrictCharField(max_length=100, validators=[_reject_nul]),
        required=False,
        default=list,
        max_length=200,
        help_text="The allowed values of a choice field",
    )
    description = optional_text(255)


class CustomFieldUpdateSerializer(serializers.Serializer):
    label = StrictCharField(max_length=200, required=False)
    choices = serializers.ListField(
        child=StrictCharField(max_length=100, validators=[_reject_nul]),
        required=False,
        max_length=200,
        help_text="The whole new list; a choice contacts still hold cannot be removed",
    )
    description = StrictCharField(max_length=255, required=False, allow_blank=True)


class _CustomFieldView(ApiView):
    queryset = CustomField.objects.all()


class CustomFieldListApi(_CustomFieldView):
    @extend_schema(operation_id="custom_fields_list", responses={200: CustomFieldSerializer(many=True)})
    def get(self, request):
        """List the custom fields, by key."""
        return self.paginated_response(self.get_queryset(), CustomFieldSerializer)


class CustomFieldCreateApi(_CustomFieldView):
    @extend_schema(
        operation_id="custom_fields_create",
        request=CustomFieldCreateSerializer,
        responses={201: CustomFieldSerializer, 400: ApiErrorSerializer},
    )
    def post(self, request):
        """Define a typed field (text, number, date, yes_no, choice). Contacts already holding an attribute of
        that key have it promoted; if any value is not valid, nothing is created and the error names them."""
        data = self.validated(CustomFieldCreateSerializer, request.data)
        custom_field = custom_field_create(actor=request.user, **data)
        return Response(CustomFieldSerializer(custom_field).data, status=status.HTTP_201_CREATED)


class CustomFieldsApi(CustomFieldListApi, CustomFieldCreateApi):  # custom-fields/
    pass


class CustomFieldRetrieveApi(_CustomFieldView):
    @extend_schema(operation_id="custom_fields_retrieve", responses={200: CustomFieldSerializer})
    def get(self, request, pk):
        """One custom field."""
        return Response(CustomFieldSerializer(self.get_object()).data)


class CustomFieldUpdateApi(_CustomFieldView):
    @extend_schema(
        operation_id="custom_fields_update",
        request=CustomFieldUpdateSerializer,
        responses={200: CustomFieldSerializer},
    )
    def patch(self, request, pk):
        """Change the label, description or choices; the key and type stay."""
        data = self.validated(CustomFieldUpdateSerializer, request.data)
        custom_field = custom_field_update(custom_field=self.get_object(), actor=request.user, **data)
        return Response(CustomFieldSerializer(custom_field).data)


class CustomFieldDeleteApi(_CustomFieldView):
    @extend_schema(operation_id="custom_fields_destroy", responses={204: None})
    def delete(self, request, pk):
        """Delete the field; contacts keep its values as free attributes."""
        custom_field_delete(custom_field=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomFieldApi(CustomFieldRetrieveApi, CustomFieldUpdateApi, CustomFieldDeleteApi):  # custom-fields/{id}/
    pass


# --- Tags ----------------------------------------------------------------------------------------------


class TagSerializer(serializers.ModelSerializer):
    contacts_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tag
        fields = ["id", "name", "contacts_count", "created_at"]
        read_only_fields = fields


class TagWriteSerializer(serializers.Serializer):
    name = StrictCharField(max_length=TAG_NAME_MAX_CHARS, validators=[_reject_nul])


class _TagView(ApiView):
    queryset = Tag.objects.annotate(contacts_count=Count("contact_tags")).order_by("name")


class TagFilter(StrictFilterSet):
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Part of the name")

    class Meta:
        model = Tag
        fields = ["search"]


class TagListApi(_TagView):
    filterset_class = TagFilter

    @extend_schema(operation_id="tags_list", responses={200: TagSerializer(many=True)})
    def get(self, request):
        """List tags with how many contacts have each."""
        return self.paginated_response(self.get_queryset(), TagSerializer)


class TagCreateApi(_TagView):
    @extend_schema(operation_id="tags_create", request=TagWriteSerializer, responses={201: TagSerializer})
    def post(self, request):
        """Create a tag; names are unique ignoring case."""
        data = self.validated(TagWriteSerializer, request.data)
        tag = tag_create(name=data["name"], actor=request.user)
        return Response(TagSerializer(_TagView.queryset.get(pk=tag.pk)).data, status=status.HTTP_201_CREATED)


class TagsApi(TagListApi, TagCreateApi):  # tags/
    pass


class TagRetrieveApi(_TagView):
    @extend_schema(operation_id="tags_retrieve", responses={200: TagSerializer})
    def get(self, request, pk):
        """One tag."""
        return Response(TagSerializer(self.get_object()).data)


class TagUpdateApi(_TagView):
    @extend_schema(operation_id="tags_update", request=TagWriteSerializer, responses={200: TagSerializer})
    def patch(self, request, pk):
        """Rename a tag."""
        data = self.validated(TagWriteSerializer, request.data)
        tag = tag_update(tag=self.get_object(), name=data["name"], actor=request.user)
        return Response(TagSerializer(_TagView.queryset.get(pk=tag.pk)).data)


class TagDeleteApi(_TagView):
    @extend_schema(operation_id="tags_destroy", responses={204: None})
    def delete(self, request, pk):
        """Delete a tag; it goes from every contact that had it."""
        tag_delete(tag=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagApi(TagRetrieveApi, TagUpdateApi, TagDeleteApi):  # tags/{id}/
    pass


# --- Suppressions --------------------------------------------------------------------------------------


class SuppressionSerializer(serializers.ModelSerializer):
    phone_number = serializers.CharField(read_only=True, help_text="E.164")

    class Meta:
        model = Suppression
        fields = ["id", "phone_number", "reason", "source", "note", "created_at"]
        read_only_fields = fields


class SuppressionCreateSerializer(serializers.Serializer):
    phone_number = StrictCharField(max_length=64, help_text="Any format")
    reason = serializers.ChoiceField(choices=Suppression.Reason.choices)
    source = StrictCharField(max_length=255, required=False, allow_blank=True, default="")
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=5000)


class SuppressionFilter(StrictFilterSet):
    reason = django_filters.ChoiceFilter(choices=Suppression.Reason.choices)
    search = django_filters.CharFilter(method="filter_search", label="A number in any format, or part of the source")

    class Meta:
        model = Suppression
        fields = ["reason", "search"]

    def filter_search(self, queryset, name, value):
        by_number = number_q(value)
        return queryset.filter(by_number if by_number is not None else Q(source__icontains=value.strip()))


class _SuppressionView(ApiView):
    queryset = Suppression.objects.all()


class SuppressionListApi(_SuppressionView):
    filterset_class = SuppressionFilter

    @extend_schema(operation_id="suppressions_list", responses={200: SuppressionSerializer(many=True)})
    def get(self, request):
        """List suppressed numbers; filter by reason or a number in any format."""
        return self.paginated_response(self.get_queryset(), SuppressionSerializer)


class SuppressionCreateApi(_SuppressionView):
    @extend_schema(
        operation_id="suppressions_create",
        request=SuppressionCreateSerializer,
        responses={201: SuppressionSerializer},
    )
    def post(self, request):
        """Suppress a number for a reason; suppressing it again for the same reason returns the entry."""
        data = self.validated(SuppressionCreateSerializer, request.data)
        suppression = suppression_add(actor=request.user, **data)
        return Response(SuppressionSerializer(suppression).data, status=status.HTTP_201_CREATED)


class SuppressionsApi(SuppressionListApi, SuppressionCreateApi):  # suppressions/
    pass


class SuppressionDeleteApi(_SuppressionView):
    @extend_schema(
        operation_id="suppressions_destroy", responses={204: None, 400: ApiErrorSerializer, 409: ApiErrorSerializer}
    )
    def delete(self, request, pk):
        """Lift a do-not-call or manual suppression. An opt-out the person made is lifted only by the person
        texting START (409); one staff made only by the contact's opt-in/ with consent evidence (400)."""
        suppression_remove(suppression=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Imports -------------------------------------------------------------------------------------------


class ContactImportSerializer(serializers.ModelSerializer):
    percent_done = serializers.IntegerField(read_only=True, help_text="Share of the file processed so far")

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "status",
            "source_name",
            "list_name",
            "default_region",
            "consent_source",
            "update_existing",
            "dry_run",
            "mapping",
            "encoding",
            "percent_done",
            "rows_read",
            "created",
            "updated",
            "unchanged",
            "duplicates",
            "rejected",
            "suppressed",
            "failure",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ContactImportStartSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV in UTF-8, UTF-16 or Windows-1252 (detected), with a phone column; other columns become "
        "attributes unless mapped"
    )
    list_name = StrictCharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="Add the contacts to this list"
    )
    default_region = StrictCharField(
        max_length=2, required=False, allow_blank=True, default="", help_text="For numbers without a country code"
    )
    consent_source = optional_text(255, "Where these people consented; blank: they arrive unsubscribed")
    update_existing = serializers.BooleanField(required=False, default=False, help_text="Overwrite names, attributes")
    dry_run = serializers.BooleanField(required=False, default=False, help_text="Check and count; write no contact")
    mapping = serializers.JSONField(
        required=False,
        default=dict,
        binary=True,  # a multipart form carries it as JSON text
        help_text='What columns are, by header: {"Mobile": "phone", "Score": "field:score", "Labels": "tags", '
        '"Notes": "ignore"}; targets: phone, first_name, last_name, name, timezone, tags, attribute, ignore, '
        "field:<key>. A column not named is understood by its header",
    )

    def validate_mapping(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError('must be an object of column header -> target, e.g. {"Mobile": "phone"}')
        if len(value) > 1000:
            raise serializers.ValidationError("at most 1000 columns")
        _reject_nul(value)
        return value


class ContactImportErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactImportError
        fields = ["line", "column", "value", "reason"]
        read_only_fields = fields


class _ContactImportView(ApiView):
    queryset = ContactImport.objects.all()


class ContactImportStartApi(_ContactImportView):
    parser_classes = [MultiPartParser]

    def initial(self, request, *args, **kwargs):
        # Before authentication: a session's CSRF check reads the body, and the cap must be in place first.
        # A body announced over the cap is then parsed as an empty form; authentication and permissions
        # are answered as usual, and post() refuses the upload.
        self.upload_cap = upload_size_guard(request)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="contacts_import",
        request={"multipart/form-data": ContactImportStartSerializer},
        responses={202: ContactImportSerializer, 413: ApiErrorSerializer},
    )
    def post(self, request):
        """Upload a CSV of contacts; a worker imports it. Answers 202 with the import to poll (Location).

        A file over CONTACT_IMPORT_MAX_BYTES is refused with 413, without reading more of it than the cap."""
        form = request.data  # a file cut off at the cap is missing from it: say why, not "no file"
        if self.upload_cap.exceeded:
            raise upload_too_large()
        data = self.validated(ContactImportStartSerializer, form)
        record = contact_import_start(
            file=data["file"],
            contact_list_name=data["list_name"],
            default_region=data["default_region"] or None,
            consent_source=data["consent_source"],
            update=data["update_existing"],
            dry_run=data["dry_run"],
            mapping=data["mapping"],
            actor=request.user,
        )
        location = reverse("v1:contact-import", kwargs={"pk": record.pk})
        return Response(
            ContactImportSerializer(record).data, status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class ContactImportRetrieveApi(_ContactImportView):
    @extend_schema(operation_id="contacts_import_retrieve", responses={200: ContactImportSerializer})
    def get(self, request, pk):
        """An import's progress and, once it has finished, its counts (or why it failed)."""
        return Response(ContactImportSerializer(self.get_object()).data)


class ContactImportErrorListApi(_ContactImportView):
    @extend_schema(operation_id="contacts_import_errors", responses={200: ContactImportErrorSerializer(many=True)})
    def get(self, request, pk):
        """The rows an import did not take, in file order, each with the line, column and reason."""
        contact_import = self.get_object()
        return self.paginated_response(contact_import.errors.order_by("line", "id"), ContactImportErrorSerializer)
