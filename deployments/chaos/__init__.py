"""``bridge chaos``: N returns through the real local stack under faults, kills and restarts,
then invariants checked from the sandboxes' own records.

One job per module: :mod:`~deployments.chaos.stack` (processes), :mod:`~deployments.chaos.procs`
(kill/restart by PID), :mod:`~deployments.chaos.faults`, :mod:`~deployments.chaos.killer`,
:mod:`~deployments.chaos.world` (merchant and warehouse), :mod:`~deployments.chaos.polls`,
:mod:`~deployments.chaos.export`, :mod:`~deployments.chaos.plan` and
:mod:`~deployments.chaos.invariants` (pure), :mod:`~deployments.chaos.meter`,
:mod:`~deployments.chaos.progress`, :mod:`~deployments.chaos.report`, :mod:`~deployments.chaos.run`.
"""
