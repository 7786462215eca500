from django.contrib import admin

from contacts.models import Contact, ContactList, ContactListMembership, Suppression


class MembershipInline(admin.TabularInline):
    model = ContactListMembership
    extra = 0
    autocomplete_fields = ["contact_list"]
    readonly_fields = ["added_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "first_name", "last_name", "status", "country", "consent_source", "created_at"]
    list_filter = ["status", "country", "consent_source", "lists"]
    search_fields = ["phone_number", "first_name", "last_name"]
    readonly_fields = ["created_at", "updated_at", "consented_at", "opted_out_at", "opt_out_source"]
    inlines = [MembershipInline]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["phone_number", "first_name", "last_name", "timezone", "country", "attributes"]}),
        ("Consent", {"fields": ["status", "consented_at", "consent_source", "consent_text"]}),
        ("Opt-out", {"fields": ["opted_out_at", "opt_out_source"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ["phone_number", "reason", "source", "created_by", "created_at"]
    list_filter = ["reason"]
    search_fields = ["phone_number", "source"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at"]
    show_full_result_count = False
