"""Every admin add form, change form, save and delete of the staff's apps, for each role and a superuser.

For each model registered in the admin (admin.site._registry) of the apps staff work with, and each role:
open the add form and the change form, save the change form as it is (valid) and with every field given a
value it refuses (invalid), delete from the object's page and with the list's "Delete selected". Nothing may
answer a server error; a role is refused (403) exactly where the permissions matrix says it may not act;
a save or delete that went through left its entry in the audit trail, because every admin write goes
through a service that writes one; an invalid form changes nothing and says what is wrong.

The expectations of the roles are the matrix's own table (test_permissions_matrix.ADMIN_ALLOWED); a
superuser holds every permission, so what limits it is the model admin's own rule (records are read-only).
A new model admin is walked without a change here.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from smscampaigns.roles import APPS, EDITOR, MANAGER, VIEWER
from smscampaigns.tests import test_permissions_matrix as matrix
from smscampaigns.tests.admin_forms import made_invalid, posted_back
from smscampaigns.tests.test_permissions_matrix import ADMIN_ALLOWED, World, rolled_back

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("staff_roles")]

SUPERUSER = "superuser"
WALKERS = (VIEWER, EDITOR, MANAGER, SUPERUSER)
world = matrix.world  # the matrix's fixture: one saved object of every model in the admin, users of each role
WALKED = sorted(model._meta.label for model in admin.site._registry if model._meta.app_label in APPS)


def _may(world: World, role: str, obj, what: str) -> bool:
    """Whether `role` may do `what` (add, view, change, delete) to `obj` in the admin."""
    if role != SUPERUSER:
        return role in ADMIN_ALLOWED[(obj._meta.label, "changelist" if what == "view" else what)]
    request = RequestFactory().get("/")
    request.user = world.objects["auth.User"]
    model_admin = admin.site._registry[type(obj)]
    if what == "add":
        return model_admin.has_add_permission(request)
    return getattr(model_admin, f"has_{what}_permission")(request, obj)


def _trail(obj) -> int:
    return AuditEvent.objects.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk)).count()


def _row(obj) -> dict | None:
    return type(obj).objects.filter(pk=obj.pk).values().first()


def _answer(response) -> str:
    return f"{response.status_code} {response.content[:300].decode(errors='replace')!r}"


@pytest.mark.parametrize("role", WALKERS)
@pytest.mark.parametrize("label", WALKED)
def test_admin_forms_and_deletes_respect_the_roles_and_audit_every_write(client, world, label, role):
    obj = world.objects.get(label)
    assert obj is not None, f"no {label} to walk: add one to the world fixture of test_permissions_matrix"
    client.force_login(world.objects["auth.User"] if role == SUPERUSER else world.users[role])
    opts = obj._meta
    url = {page: f"admin:{opts.app_label}_{opts.model_name}_{page}" for page in ("add", "change", "delete")}
    change_url = reverse(url["change"], args=[obj.pk])
    changelist_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    wrong = []

    def expect(step: str, response, allowed: bool, done_status: int = 200):
        if response.status_code != (done_status if allowed else 403):
            wrong.append(f"{step}: expected {done_status if allowed else 403}, got {_answer(response)}")

    with rolled_back():
        expect("GET add form", client.get(reverse(url["add"])), _may(world, role, obj, "add"))
    with rolled_back():
        page = client.get(change_url)
        expect("GET change form", page, _may(world, role, obj, "view"))
    shown = posted_back(page) if page.status_code == 200 else {}

    may_change = _may(world, role, obj, "change")
    with rolled_back():
        before = _trail(obj)
        saved = client.post(change_url, shown)
        expect("POST change (as shown)", saved, may_change, done_status=302)
        if may_change and saved.status_code == 302 and _trail(obj) == before:
            wrong.append("POST change (as shown): saved, but no audit entry")
        if saved.status_code == 200 and "adminform" in saved.context:
            wrong.append(f"POST change (as shown): refused with {saved.context['adminform'].form.errors.as_text()}")
    with rolled_back():
        before, row = _trail(obj), _row(obj)
        if may_change:
            invalid, spoiled = made_invalid(shown, page.context["adminform"].form)
            refused = client.post(change_url, invalid)
            expect("POST change (invalid)", refused, True)
            errors = refused.context["adminform"].form.errors if refused.status_code == 200 else {}
            unflagged = [name for name in spoiled if name not in errors]
            if unflagged:
                wrong.append(f"POST change (invalid): no error on {unflagged}")
        else:
            expect("POST change (invalid)", client.post(change_url, {}), False)
        if _row(obj) != row or _trail(obj) != before:
            wrong.append("POST change (invalid): the row or the audit trail changed")

    may_delete = _may(world, role, obj, "delete")
    with rolled_back():
        before = _trail(obj)
        expect("POST delete", client.post(reverse(url["delete"], args=[obj.pk]), {"post": "yes"}), may_delete, 302)
        _check_deleted(wrong, "POST delete", obj, may_delete, before)
    with rolled_back():
        before = _trail(obj)
        data = {"action": "delete_selected", admin.helpers.ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"}
        response = client.post(changelist_url, data)
        if response.status_code >= 400 and response.status_code != 403:
            wrong.append(f"delete_selected: {_answer(response)}")
        _check_deleted(wrong, "delete_selected", obj, may_delete, before)

    assert not wrong, f"{label} as {role}:\n" + "\n".join(wrong)


def _check_deleted(wrong: list, step: str, obj, allowed: bool, trail_before: int) -> None:
    gone = _row(obj) is None
    if gone != allowed:
        wrong.append(f"{step}: expected the row {'deleted' if allowed else 'kept'}")
    if gone and _trail(obj) == trail_before:
        wrong.append(f"{step}: deleted, but no audit entry")
