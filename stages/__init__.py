"""The stages: intake, arrival, completion, inbox processing, outcomes, review and the nightly
reconciliation, as plain functions over a merchant, the clients and the ledger.

Prefect-free (an import-linter contract): the ``@task`` wrappers live in :mod:`tasks`, so the
rules here run and test without a Prefect server.
"""
