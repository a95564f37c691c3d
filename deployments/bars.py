"""The terminal progress bars the demo and the chaos run share (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def step_bars(
    console: Console,
    label_width: int,
    *,
    enabled: bool,
    refresh_per_second: float = 10,
) -> Progress:
    """Bars of a label ``label_width`` wide, the bar, done/total and the time elapsed.

    ``enabled=False`` (not a terminal) keeps the bars' state but draws nothing, so the caller's
    log lines are the whole output.
    """
    return Progress(
        TextColumn(f"{{task.description:<{label_width}}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not enabled,
        refresh_per_second=refresh_per_second,
    )
