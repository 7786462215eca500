"""Staff in each role, for the admin's tests."""

import pytest
from django.contrib.auth.models import Group


def user_in(django_user_model, group: str, username: str = ""):
    user = django_user_model.objects.create_user(username or group.lower().replace(" ", "_"), password="pw-123-abc!")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    return django_user_model.objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def manager(django_user_model, staff_roles):
    return user_in(django_user_model, "Marketing manager")


@pytest.fixture
def editor(django_user_model, staff_roles):
    return user_in(django_user_model, "Marketing editor")


@pytest.fixture
def viewer(django_user_model, staff_roles):
    return user_in(django_user_model, "Viewer")
