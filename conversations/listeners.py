"""The inbox listening to sends' webhooks (SMS_MESSAGE_LISTENERS): see sends/listeners.py."""

from conversations.services import auto_reply_record, conversation_inbound_record, reply_delivery_report_apply
from sends.listeners import MessageListener


class ConversationListener(MessageListener):
    def inbound_received(self, *, message) -> None:
        conversation_inbound_record(message=message)

    def auto_reply_sent(self, *, message, body: str, result) -> None:
        auto_reply_record(message=message, body=body, result=result)

    def delivery_report_unmatched(self, *, report) -> bool:
        return reply_delivery_report_apply(report=report)
