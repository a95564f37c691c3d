"""How a stored inbox message is handed to Prefect.

:class:`TaskWorkerDispatcher` queues the ``handle_inbox_message`` background task for a task
worker (sub-second start, PREFECT_NOTES §11); :class:`~webhooks.events.EventDispatcher` posts
a Prefect event for deployment triggers. Both raise when Prefect cannot take the message, so
the message stays ``pending`` in the inbox and the sweeper tries again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from webhooks.coalesce import DEFAULT_MAX_ITEMS, DEFAULT_WINDOW_S, Coalescer


@runtime_checkable
class Dispatcher(Protocol):
    """Hands one stored message to Prefect; raises when it could not."""

    def dispatch(
        self,
        merchant: str,
        source: str,
        message_id: str,
        kind: str,
        subject_id: str | None,
        *,
        attempt: int = 0,
    ) -> None:
        """Start the work for one inbox message (it is already stored).

        ``attempt`` numbers the hand-offs of one message (0 for the first, the sweeper's
        re-dispatches count up) so a dispatcher whose target dedupes by id can tell a new
        attempt from a repeat of the last one.
        """
        ...


class TaskWorkerDispatcher:
    """Queue inbox work for a task worker with ``.delay()``, in batches.

    Messages of one merchant and source arriving within ``batch_window_s`` (at most
    ``batch_max``; a message that finds them idle waits only ~20 ms) go out as one
    ``tasks.lifecycle.handle_inbox_batch`` run, so a burst costs one task run and one AMS
    request per 30 messages instead of one each; ``batch_max=1``
    queues ``handle_inbox_message`` per message, as before. Needs ``PREFECT_API_URL``; the
    task worker is ``python -m deployments.task_worker``. ``preload=True`` imports Prefect
    and the tasks now, so the first webhook does not pay ~1 s.
    """

    def __init__(
        self,
        *,
        preload: bool = False,
        batch_window_s: float = DEFAULT_WINDOW_S,
        batch_max: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        if preload:
            import tasks.lifecycle  # noqa: F401
        self._coalescer = Coalescer(self._send, window_s=batch_window_s, max_items=batch_max)

    def dispatch(
        self,
        merchant: str,
        source: str,
        message_id: str,
        kind: str,  # noqa: ARG002 (the task re-reads the row)
        subject_id: str | None,  # noqa: ARG002
        *,
        attempt: int = 0,  # noqa: ARG002 (every .delay() is a new task run anyway)
    ) -> None:
        """Create the deferred task run of this message's batch (raises if Prefect refused)."""
        self._coalescer.submit(merchant, source, message_id)

    @staticmethod
    def _send(merchant: str, source: str, message_ids: list[str]) -> None:
        # Imported here: importing Prefect and the task graph costs ~1 s, and the receiver
        # must start (and its tests run) without it when another dispatcher is used.
        from prefect.settings import get_current_settings

        from tasks.lifecycle import handle_inbox_batch, handle_inbox_message

        if not get_current_settings().api.url:
            # Else Prefect starts a throwaway in-process server that no task worker reads.
            raise RuntimeError("PREFECT_API_URL is not set: no task worker can see the run")
        if len(message_ids) == 1:
            (only,) = message_ids
            _outside_run_context(lambda: handle_inbox_message.delay(merchant, source, only))
        else:
            _outside_run_context(lambda: handle_inbox_batch.delay(merchant, source, message_ids))

    def __repr__(self) -> str:
        return f"TaskWorkerDispatcher(batch_max={self._coalescer.max_items})"


def _outside_run_context(call: Callable[[], object]) -> None:
    """Run ``call`` with no flow or task run context, keeping the Prefect settings.

    ``.delay()`` stores the caller's run context with the parameters. Inside a deployment's
    flow run (the sweep-inbox flow) that context pickles the flow by the module name its
    entrypoint was loaded under (``sweep_inbox``), which the task worker cannot import: it
    logs "Failed to read parameters" and never runs the task, and the message stays emitted.
    The parameters go to the shared task storage (:mod:`runtime.task_storage`).
    """
    from prefect.context import SettingsContext

    from runtime.task_storage import using_task_storage

    settings = SettingsContext.get()

    def clean() -> None:
        if settings is not None:  # e.g. a test harness's temporary API URL
            SettingsContext.__var__.set(settings)
        with using_task_storage():  # parameters where every host's task worker reads them
            call()

    contextvars.Context().run(clean)


class CompositeDispatcher:
    """Several dispatchers in order; all must succeed (the first failure is raised)."""

    def __init__(self, dispatchers: Sequence[Dispatcher]) -> None:
        if not dispatchers:
            raise ValueError("CompositeDispatcher needs at least one dispatcher")
        self.dispatchers = list(dispatchers)

    def dispatch(
        self,
        merchant: str,
        source: str,
        message_id: str,
        kind: str,
        subject_id: str | None,
        *,
        attempt: int = 0,
    ) -> None:
        """Dispatch through each in turn."""
        for dispatcher in self.dispatchers:
            dispatcher.dispatch(merchant, source, message_id, kind, subject_id, attempt=attempt)

    def __repr__(self) -> str:
        return f"CompositeDispatcher({self.dispatchers!r})"
