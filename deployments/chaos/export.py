"""Everything the invariants read, collected after the run: both sandboxes' raw exports
(``GET /_admin/export``), their request summaries, a snapshot of the ledger, and the rows of
the reconciliation report. ``--export DIR`` writes the raw documents there.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from ledger import ExceptionRecord, InboxMessage, Ledger, Link, RefundAttempt

EXPORT_TIMEOUT_S = 300.0


@dataclass
class Collected:
    """The documents of one run."""

    ams: dict[str, Any]
    returnly: dict[str, Any]
    ledger: dict[str, Any]
    drift: list[dict[str, Any]]
    counts: dict[str, Any] = field(default_factory=dict)
    """The reconciliation's ``counts.json``."""
    requests: dict[str, Any] = field(default_factory=dict)
    """``{"ams": summary, "returnly": summary}`` of ``GET /_admin/requests/summary``."""


def sandbox_export(base_url: str) -> dict[str, Any]:
    """``GET /_admin/export`` of one sandbox."""
    response = httpx.get(f"{base_url}/_admin/export", timeout=EXPORT_TIMEOUT_S)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def ledger_snapshot(ledger: Ledger, merchant: str) -> dict[str, Any]:
    """Links, refund attempts, open exceptions and inbox counts of one merchant, as JSON rows."""
    with ledger.engine.connect() as conn:
        links = [
            {
                "return_id": lk.return_id,
                "customer_identifier": lk.customer_identifier,
                "ams_uuid": lk.ams_uuid,
                "stage": lk.stage,
                "status": lk.status,
            }
            for lk in conn.execute(select(Link).where(Link.merchant == merchant))
        ]
        attempts = [
            {
                "return_id": a.return_id,
                "key": a.key,
                "status": a.status,
                "refund_id": a.refund_id,
                "failures": a.failures,
                "error": a.error,
            }
            for a in conn.execute(select(RefundAttempt).where(RefundAttempt.merchant == merchant))
        ]
        exceptions = [
            {
                "return_id": e.return_id,
                "reason": e.reason,
                "stage": e.stage,
                "subject": e.subject,
                "payload": e.payload,
                "status": e.status,
                "occurrences": e.occurrences,
            }
            for e in conn.execute(
                select(ExceptionRecord).where(
                    ExceptionRecord.merchant == merchant, ExceptionRecord.status == "open"
                )
            )
        ]
        inbox = {
            str(status): int(n)
            for status, n in conn.execute(
                select(InboxMessage.status, func.count())
                .where(InboxMessage.merchant == merchant)
                .group_by(InboxMessage.status)
            )
        }
    return {"links": links, "refund_attempts": attempts, "exceptions": exceptions, "inbox": inbox}


def latest_report(reports_dir: Path, merchant: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``counts.json`` and the rows of ``drift.csv`` of the newest reconciliation report."""
    found = sorted((reports_dir / merchant).glob("*/counts.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no reconciliation report under {reports_dir / merchant}")
    folder = found[-1].parent
    counts: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    with (folder / "drift.csv").open(encoding="utf-8", newline="") as handle:
        rows = [dict(row) for row in csv.DictReader(handle)]
    return counts, rows


def write_exports(folder: Path, collected: Collected) -> list[Path]:
    """The raw documents as JSON files in ``folder``; answers the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in (
        ("ams-export.json", collected.ams),
        ("returnly-export.json", collected.returnly),
        ("ledger-snapshot.json", collected.ledger),
        ("drift.json", collected.drift),
        ("requests-summary.json", collected.requests),
    ):
        path = folder / name
        path.write_text(json.dumps(data, default=str), encoding="utf-8")
        written.append(path)
    return written
