"""RunProgress: few API calls, a total that grows, and never a failed run because of it."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

import flows.progress as progress_module
from flows.progress import RunProgress, progress_key


class FakeArtifacts:
    """Stands in for Prefect's two artifact calls (the flow tests use the real server)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, float, str]] = []
        self.fail = fail

    def create(self, progress: float, key: str | None, description: str) -> UUID:
        if self.fail:
            raise ConnectionError("prefect is down")
        self.calls.append(("create", progress, description))
        return uuid4()

    def update(self, artifact_id: UUID, progress: float, description: str) -> None:
        self.calls.append(("update", progress, description))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeArtifacts:
    artifacts = FakeArtifacts()
    monkeypatch.setattr(progress_module, "create_progress_artifact", artifacts.create)
    monkeypatch.setattr(progress_module, "update_progress_artifact", artifacts.update)
    return artifacts


def test_updates_are_rate_limited_and_the_end_is_100(fake: FakeArtifacts) -> None:
    run = RunProgress("backfill", total=0, min_interval_s=3600).start()
    run.grow(300)
    for _ in range(300):
        run.advance()
    run.finish()
    assert [c[0] for c in fake.calls] == ["create", "update"]  # not 300 updates
    assert fake.calls[-1][1] == 100.0 and "(300/300)" in fake.calls[-1][2]
    assert run.updates == 2


def test_percent_follows_a_growing_total(fake: FakeArtifacts) -> None:
    run = RunProgress("reconcile", total=4, min_interval_s=0).start()
    run.advance()
    assert fake.calls[-1][1] == 25.0
    run.grow(4)
    run.advance()
    assert fake.calls[-1][1] == 25.0  # 2 of 8


def test_a_prefect_that_cannot_answer_never_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    broken = FakeArtifacts(fail=True)
    monkeypatch.setattr(progress_module, "create_progress_artifact", broken.create)
    run = RunProgress("demo", total=2, min_interval_s=0).start()
    run.advance()
    run.finish()
    assert run.updates == 0
    assert sum("progress artifact unavailable" in r.message for r in caplog.records) == 1


def test_keys_are_valid_artifact_keys() -> None:
    assert progress_key("reconcile-progress", "Acme_Shop.EU") == "reconcile-progress-acme-shop-eu"


def test_the_demo_story_steps_in_order_and_refuses_a_wrong_one(
    fake: FakeArtifacts, caplog: Any
) -> None:
    from deployments.story_progress import DEMO_STEPS, StoryProgress

    caplog.set_level("INFO")
    with StoryProgress(tty=False) as story:
        for name in DEMO_STEPS[:3]:
            story.step(name)
        with pytest.raises(ValueError, match="not the next one"):
            story.step(DEMO_STEPS[5])
        for name in DEMO_STEPS[3:]:
            story.step(name)
    assert f"story: step {DEMO_STEPS[-1]} (13/13)" in caplog.text
    assert fake.calls[0][0] == "create" and fake.calls[-1][1] == 100.0


def test_the_drivers_do_not_import_prefect_before_they_set_its_environment() -> None:
    """The demo and chaos drivers point Prefect at the server they start by setting the
    environment, which Prefect reads when it is imported: importing them must not import it.
    (With flows.progress importing Prefect at the top, every webhook hand-off of the demo
    failed with "PREFECT_API_URL is not set" and waited for the sweeper.)"""
    import subprocess
    import sys

    code = (
        "import sys, deployments.demo, deployments.chaos.run, cli.chaos; "
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout[:500]
