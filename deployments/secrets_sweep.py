"""Search everything a run leaves behind for a secret: Prefect's records and the files.

After a real-server run (the end-to-end test, the chaos run) every credential the bridge holds
is looked for, with its base64 (padded or not, URL-safe too) and URL-encoded forms
(:func:`clients.http.secret_forms`), in:

- Prefect, through its API: logs (``read_logs``), flow runs and task runs (parameters, state
  messages, names), artifacts, events, automations, deployments (parameter defaults, job
  variables), work pools (base job templates), variables;
- files: the workers', task worker's and receiver's logs, the ledger, the reports, and
  Prefect's result and parameter storage.

Not searched, on purpose: block documents (where secrets are meant to be, encrypted by the
server) and the Prefect server's own database file (which holds them). A hit names where it
was and which form matched, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import get_client

from clients.http import secret_forms

PAGE = 200
EVENTS_PAGE = 50
"""The most ``/events/filter`` answers per page."""
EVENTS_SINCE = timedelta(days=7)
MAX_FILE_BYTES = 512 * 1024 * 1024
SKIP_FILE_NAMES = frozenset({"prefect.db", "prefect.db-wal", "prefect.db-shm"})
"""The Prefect server's database holds the block documents, where secrets belong."""


@dataclass(frozen=True)
class Hit:
    """Where a secret was found (never the value itself)."""

    where: str
    secret: int
    """Index of the secret in the list given (which one, without showing it)."""
    form: str
    """``plain``, ``base64`` or ``url``: which encoding matched."""


@dataclass
class SweepReport:
    """What was searched and what was found."""

    hits: list[Hit] = field(default_factory=list)
    searched: dict[str, int] = field(default_factory=dict)
    """Records or files searched per place."""

    def as_dict(self) -> dict[str, Any]:
        """For summaries (JSON)."""
        return {
            "hits": [h.__dict__ for h in self.hits],
            "searched": dict(sorted(self.searched.items())),
        }


def _forms(secrets: Sequence[str]) -> list[tuple[int, str, bytes]]:
    out: list[tuple[int, str, bytes]] = []
    for i, secret in enumerate(secrets):
        for form in secret_forms(secret):
            kind = "plain" if form == secret else ("url" if "%" in form else "base64")
            out.append((i, kind, form.encode()))
    return out


class _Matcher:
    def __init__(self, secrets: Sequence[str], report: SweepReport) -> None:
        self.forms = _forms([s for s in secrets if s])
        self.report = report

    def check(self, where: str, place: str, blob: bytes) -> None:
        self.report.searched[place] = self.report.searched.get(place, 0) + 1
        found = {(index, kind) for index, kind, form in self.forms if form in blob}
        for index, kind in sorted(found):  # one hit per secret and encoding, however many forms
            self.report.hits.append(Hit(where=where, secret=index, form=kind))


def _dump(model: Any) -> bytes:
    if hasattr(model, "model_dump_json"):
        return str(model.model_dump_json()).encode()
    return json.dumps(model, default=str).encode()


def _paged(read: Any) -> Iterator[Any]:
    offset = 0
    while True:
        page = read(limit=PAGE, offset=offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def _events(api_url: str) -> Iterator[dict[str, Any]]:
    """Every event the server kept (``/events/filter`` and its next pages)."""
    now = datetime.now(UTC)
    window = {"since": (now - EVENTS_SINCE).isoformat(), "until": (now + EVENTS_SINCE).isoformat()}
    query = {"filter": {"occurred": window}, "limit": EVENTS_PAGE}
    with httpx.Client(timeout=30) as http:
        answer = http.post(f"{api_url}/events/filter", json=query).raise_for_status()
        while True:
            body = answer.json()
            yield from body.get("events", [])
            next_page = body.get("next_page")
            if not next_page:
                return
            answer = http.get(next_page).raise_for_status()


def sweep_prefect(api_url: str, secrets: Sequence[str], report: SweepReport) -> None:
    """Search the Prefect server at ``api_url`` (the current settings' client must point there)."""
    match = _Matcher(secrets, report)
    with get_client(sync_client=True) as client:
        for log in _paged(lambda **kw: client.read_logs(**kw)):
            match.check(f"log {log.id} (flow run {log.flow_run_id})", "logs", _dump(log))
        for run in _paged(lambda **kw: client.read_flow_runs(**kw)):
            match.check(f"flow run {run.name} ({run.id})", "flow_runs", _dump(run))
        for task_run in _paged(lambda **kw: client.read_task_runs(**kw)):
            match.check(f"task run {task_run.name} ({task_run.id})", "task_runs", _dump(task_run))
        for artifact in _paged(lambda **kw: client.read_artifacts(**kw)):
            match.check(f"artifact {artifact.key or artifact.id}", "artifacts", _dump(artifact))
        for automation in _paged(lambda **kw: client.read_automations(**kw)):
            match.check(f"automation {automation.name}", "automations", _dump(automation))
        for deployment in _paged(lambda **kw: client.read_deployments(**kw)):
            match.check(f"deployment {deployment.name}", "deployments", _dump(deployment))
        for pool in client.read_work_pools():
            match.check(f"work pool {pool.name}", "work_pools", _dump(pool))
        for variable in client.read_variables(limit=PAGE):
            match.check(f"variable {variable.name}", "variables", _dump(variable))
    for event in _events(api_url.rstrip("/")):
        match.check(f"event {event.get('event')} ({event.get('id')})", "events", _dump(event))


def _files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in sorted(root.rglob("*")) if p.is_file())


def sweep_files(roots: Iterable[Path], secrets: Sequence[str], report: SweepReport) -> None:
    """Search every file under ``roots`` (the Prefect database excepted, see the module)."""
    match = _Matcher(secrets, report)
    for path in _files(roots):
        if path.name in SKIP_FILE_NAMES or path.stat().st_size > MAX_FILE_BYTES:
            continue
        match.check(f"file {path}", "files", path.read_bytes())


def sweep(api_url: str, secrets: Sequence[str], roots: Iterable[Path] = ()) -> SweepReport:
    """Prefect and the files: everything a run left behind."""
    report = SweepReport()
    sweep_prefect(api_url, secrets, report)
    sweep_files(roots, secrets, report)
    return report
