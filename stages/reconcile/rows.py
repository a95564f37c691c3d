"""A thread-safe accumulator of frame rows, grouped and deduplicated by entity.

The fetch threads map each page to rows as soon as it arrives and drop the API models, so a
night holds tuples, not tens of thousands of pydantic objects. An entity (return or RMA) read
twice (overlapping passes, a by-id re-read) keeps its first rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift import coerce_frame, empty_frame, validate_frame
from core.drift.frames import Schema

Row = tuple[object, ...]
"""One frame row, values in the schema's column order."""


class Rows:
    """Rows of one drift frame, added entity by entity from any thread."""

    def __init__(self, schema: Schema, side: str) -> None:
        self.schema = schema
        self.side = side
        self._rows: list[Row] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add(self, groups: Iterable[tuple[str, Sequence[Row]]]) -> list[str]:
        """Add each entity's rows unless it was added before; answers the ids added."""
        added: list[str] = []
        with self._lock:
            for entity, rows in groups:
                if entity in self._seen:
                    continue
                self._seen.add(entity)
                self._rows.extend(rows)
                added.append(entity)
        return added

    def __contains__(self, entity: object) -> bool:
        return entity in self._seen

    @property
    def entities(self) -> int:
        """Distinct entities added."""
        return len(self._seen)

    @property
    def rows(self) -> int:
        """Rows added."""
        return len(self._rows)

    def frame(self) -> pd.DataFrame:
        """The rows as a frame with the schema's dtypes, validated at the boundary."""
        if not self._rows:
            return empty_frame(self.schema)
        frame = pd.DataFrame.from_records(self._rows, columns=list(self.schema))
        return validate_frame(coerce_frame(frame, self.schema), self.schema, self.side)
