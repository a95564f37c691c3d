"""Dense integer identity keys shared by the three frames, and one entity per key and side.

Every (merchant, customer_identifier) seen anywhere gets a key in ``0..n-1``; per-key facts
then live in plain arrays indexed by key, so aligning the sides is a gather, not a join.
The strings are hashed once (``factorize``); everything after that works on integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3


@dataclass(frozen=True, slots=True)
class IdentityKeys:
    """Keys of every input row, and the strings behind each key."""

    n: int
    """Number of distinct identities."""
    line_keys: tuple[np.ndarray, ...]
    """One int64 key per row of each input frame, in the order given."""
    merchant_code: np.ndarray
    """Per key: index into ``merchants``."""
    merchants: pd.Index
    cid_code: np.ndarray
    """Per key: index into ``customer_identifiers``."""
    customer_identifiers: pd.Index


def identity_keys(*frames: pd.DataFrame) -> IdentityKeys:
    """Assign one dense key per (merchant, customer_identifier) across all ``frames``."""
    sizes = [len(frame) for frame in frames]
    merchants = pd.concat([frame["merchant"] for frame in frames], ignore_index=True)
    cids = pd.concat([frame["customer_identifier"] for frame in frames], ignore_index=True)
    m_codes, m_uniques = pd.factorize(merchants)
    c_codes, c_uniques = pd.factorize(cids)
    n_c = len(c_uniques)
    if len(m_uniques) <= 1:
        # One merchant (the usual nightly run): the identifier alone is the key.
        keys = c_codes.astype(np.int64)
        merchant_code = np.zeros(n_c, dtype=np.int64)
        cid_code = np.arange(n_c, dtype=np.int64)
    else:
        keys, uniques = group_codes(m_codes.astype(np.int64) * n_c + c_codes)
        merchant_code = uniques // n_c
        cid_code = uniques % n_c
    bounds = np.cumsum([0, *sizes])
    return IdentityKeys(
        n=len(cid_code),
        line_keys=tuple(keys[bounds[i] : bounds[i + 1]] for i in range(len(frames))),
        merchant_code=merchant_code,
        merchants=pd.Index(m_uniques, dtype="str"),
        cid_code=cid_code,
        customer_identifiers=pd.Index(c_uniques, dtype="str"),
    )


def group_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group code per value, distinct values ascending), by a stable sort.

    Sorting beats hashing here: identity keys come in first-seen order, so the values are
    nearly sorted already, and int64 hashing of these packed keys is slow in pandas.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(ordered), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    codes = np.empty(len(values), dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return codes, ordered[new]


def first_rows(keys: np.ndarray, n: int, keep: np.ndarray | None = None) -> np.ndarray:
    """Per key, the position of its first (kept) row, or -1 when it has none."""
    positions = np.flatnonzero(keep) if keep is not None else np.arange(len(keys))
    out = np.full(n, len(keys), dtype=np.int64)
    np.minimum.at(out, keys[positions], positions)
    out[out == len(keys)] = -1
    return out


def one_entity_per_key(
    keys: np.ndarray,
    n: int,
    entity: pd.Series,
    deleted: np.ndarray,
    created_at: pd.Series,
) -> np.ndarray:
    """Rows to keep so that each key has a single entity (return or RMA).

    AMS deletes softly and lets the identifier be reused, so one identity can have several
    RMAs: keep the live one, else the newest (ties: smallest id, to stay deterministic).
    The common case (no conflicts) costs one gather and one string comparison.
    """
    first = first_rows(keys, n)
    header_entity = pd.Series(entity.array.take(first[keys]), index=entity.index)
    conflict = (entity != header_entity).to_numpy()
    if not conflict.any():
        return np.ones(len(keys), dtype=bool)
    in_conflict = np.isin(keys, np.unique(keys[conflict]))
    candidates = pd.DataFrame(
        {
            "key": keys[in_conflict],
            "entity": entity.to_numpy()[in_conflict],
            "deleted": deleted[in_conflict],
            "created_at": created_at.to_numpy()[in_conflict],
        }
    )
    winners = candidates.sort_values(
        ["key", "deleted", "created_at", "entity"],
        ascending=[True, True, False, True],
        na_position="last",
    ).drop_duplicates("key")
    chosen = candidates.merge(
        winners[["key", "entity"]], on=["key", "entity"], how="left", indicator=True
    )
    keep = np.ones(len(keys), dtype=bool)
    keep[np.flatnonzero(in_conflict)] = (chosen["_merge"] == "both").to_numpy()
    return keep
