"""The inbox's first migration gives every contact who wrote before it existed a conversation, read."""

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from contacts.tests.factories import ContactFactory
from conversations.models import Conversation
from sends.models import InboundMessage

pytestmark = pytest.mark.django_db

inbox_migration = importlib.import_module("conversations.migrations.0001_inbox")


def test_backfill_makes_one_read_conversation_per_contact_who_wrote_with_their_latest_text():
    wrote, silent = ContactFactory(), ContactFactory()
    now = timezone.now()
    for minutes, text in [(10, "first"), (5, "latest")]:
        InboundMessage.objects.create(
            from_number=str(wrote.phone_number),
            to_number="+14155550100",
            text=text,
            contact=wrote,
            received_at=now - timedelta(minutes=minutes),
        )
    InboundMessage.objects.create(from_number="+14155550199", to_number="+14155550100", text="no contact")
    inbox_migration.backfill(apps, SimpleNamespace(connection=connection))
    conversation = Conversation.objects.get()
    assert conversation.contact == wrote and conversation.last_text == "latest" and conversation.unread_count == 0
    assert conversation.last_inbound_at == now - timedelta(minutes=5)
    assert not Conversation.objects.filter(contact=silent).exists()
    inbox_migration.backfill(apps, SimpleNamespace(connection=connection))  # run again: nothing doubles
    assert Conversation.objects.count() == 1
