"""``bridge chaos``: the chaos run (see :mod:`deployments.chaos`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deployments.chaos.options import DEFAULT_RETURNS, ChaosOptions


def chaos(
    returns: Annotated[int, typer.Option(help="Returns to seed and drive through.")] = (
        DEFAULT_RETURNS
    ),
    seed: Annotated[int, typer.Option(help="Seed of the data, faults and kill moments.")] = 7,
    fault_rate: Annotated[
        float, typer.Option(help="Share of API calls that fail (0 = no faults).")
    ] = 0.2,
    duplicates: Annotated[
        int, typer.Option(help="Every webhook and callback is delivered this many times.")
    ] = 3,
    kills: Annotated[
        int, typer.Option(help="SIGKILLs of each worker (the receiver and server once).")
    ] = 3,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the summary here as JSON.")
    ] = None,
    export: Annotated[Path | None, typer.Option(help="Write both raw sandbox exports.")] = None,
    workdir: Annotated[Path, typer.Option(help="Ledger, Prefect home, logs, reports.")] = Path(
        "var/chaos"
    ),
    rate_limits: Annotated[
        bool, typer.Option(help="Keep the merchant rate limits (loose); default: none.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Live progress bar (or lines only).")] = True,
) -> None:
    """N returns through the real local stack under faults and kills; checks invariants."""
    from deployments.chaos.run import run

    options = ChaosOptions(
        returns=returns,
        seed=seed,
        fault_rate=fault_rate,
        duplicates=duplicates,
        kills=kills,
        summary_json=summary_json,
        export=export,
        workdir=workdir,
        rate_limits=rate_limits,
        progress=progress,
    )
    raise typer.Exit(run(options))


app = typer.Typer(add_completion=False)
app.command()(chaos)
