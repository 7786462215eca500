# The module moves here first, whole, so that its history follows it; the next commit splits it by
# sub-domain and updates every import.
from contacts.services.consent import *  # noqa: F403
