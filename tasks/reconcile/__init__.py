"""The nightly reconciliation's Prefect tasks (:mod:`tasks.reconcile.tasks`); the steps they
call are Prefect-free, in :mod:`stages.reconcile`."""
