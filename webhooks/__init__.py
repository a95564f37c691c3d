"""Webhook receiver: verify Returnly webhooks and AMS callbacks, store them, hand them to Prefect.

Build the app with :func:`create_app`; run it with ``python -m webhooks``. The sweeper
(:func:`redispatch_inbox`, the ``sweep-inbox`` flow) re-dispatches what Prefect never took.
"""

from webhooks.app import create_app
from webhooks.dispatch import (
    CompositeDispatcher,
    Dispatcher,
    TaskWorkerDispatcher,
)
from webhooks.errors import (
    WebhookAuthError,
    WebhookError,
    WebhookPayloadError,
    WebhookTooLargeError,
    WebhookUnknownMerchantError,
)
from webhooks.events import EventDispatcher, build_event, event_id, event_name
from webhooks.inbox import InboxItem
from webhooks.settings import DispatchMode, WebhookSettings, build_dispatcher
from webhooks.sweep import SweepResult, redispatch_inbox
from webhooks.verify import (
    AmsToken,
    TokenForm,
    extract_ams_token,
    returnly_signature,
    verify_ams_token,
    verify_returnly_signature,
)

__all__ = [
    "AmsToken",
    "CompositeDispatcher",
    "DispatchMode",
    "Dispatcher",
    "EventDispatcher",
    "InboxItem",
    "SweepResult",
    "TaskWorkerDispatcher",
    "TokenForm",
    "WebhookAuthError",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookSettings",
    "WebhookTooLargeError",
    "WebhookUnknownMerchantError",
    "build_dispatcher",
    "build_event",
    "create_app",
    "event_id",
    "event_name",
    "extract_ams_token",
    "redispatch_inbox",
    "returnly_signature",
    "verify_ams_token",
    "verify_returnly_signature",
]
