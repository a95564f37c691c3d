"""Vectorised formatting for drift details: whole columns at once, never a Python row loop."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3


def ints(values: pd.Series | np.ndarray) -> pd.Series:
    """Integers as text ("3")."""
    return pd.Series(np.asarray(values, dtype=np.int64)).astype("str")


def money(values: pd.Series | np.ndarray) -> pd.Series:
    """Amounts as text with two decimals ("45.00", "-3.46"); the sign is kept."""
    cents = np.rint(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    sign = pd.Series(np.where(cents < 0, "-", ""), dtype="str")
    whole = pd.Series(np.abs(cents) // 100).astype("str")
    frac = pd.Series(np.abs(cents) % 100).astype("str").str.zfill(2)
    return sign + whole + "." + frac


def signed_money(values: pd.Series | np.ndarray) -> pd.Series:
    """Amounts with an explicit sign ("+15.00", "-3.46")."""
    arr = np.asarray(values, dtype=np.float64)
    plus = pd.Series(np.where(np.rint(arr * 100) > 0, "+", ""), dtype="str")
    return plus + money(arr)


def join_labels(parts: list[tuple[np.ndarray, str]], size: int, sep: str = ", ") -> pd.Series:
    """Per row, the labels whose flag is set, joined by ``sep`` (in the order given)."""
    out = pd.Series("", index=pd.RangeIndex(size), dtype="str")
    for flag, label in parts:
        mask = pd.Series(np.asarray(flag, dtype=bool))
        prefix = pd.Series(np.where(out == "", "", sep), dtype="str")
        out = out.where(~mask, out + prefix + label)
    return out


def where_text(cond: np.ndarray, yes: pd.Series | str, no: pd.Series | str) -> pd.Series:
    """Row-wise choice between two texts (scalars broadcast)."""
    size = len(cond)
    index = pd.RangeIndex(size)
    a = yes if isinstance(yes, pd.Series) else pd.Series(yes, index=index, dtype="str")
    b = no if isinstance(no, pd.Series) else pd.Series(no, index=index, dtype="str")
    return a.reset_index(drop=True).where(np.asarray(cond, dtype=bool), b.reset_index(drop=True))


def tenths(values: pd.Series | np.ndarray) -> pd.Series:
    """Numbers with one decimal ("5.2"); NaN becomes "n/a"."""
    arr = np.asarray(values, dtype=np.float64)
    known = ~np.isnan(arr)
    scaled = np.rint(np.where(known, arr, 0.0) * 10).astype(np.int64)
    text = money(scaled / 10.0).str.slice(stop=-1)
    return text.where(known, "n/a")


def cell_text(values: pd.Series) -> pd.Series:
    """Text safe inside a markdown table cell."""
    return values.astype("str").fillna("").str.replace("|", "\\|").str.replace("\n", " ")


def table_lines(frame: pd.DataFrame, align: str) -> list[str]:
    """A markdown table of ``frame`` (header, the ``align`` row, one line per row)."""
    cells = [cell_text(frame[column]).reset_index(drop=True) for column in frame.columns]
    rows = cells[0].radd("| ")
    for column in cells[1:]:
        rows = rows + " | " + column
    header = "| " + " | ".join(frame.columns) + " |"
    return [header, align, *(rows + " |").tolist()]


def day_text(stamps: pd.Series) -> pd.Series:
    """Timestamps as their UTC date ("2026-11-18"); missing ones become "n/a"."""
    text = pd.Series(stamps.dt.strftime("%Y-%m-%d").to_numpy(), dtype="str")
    return text.fillna("n/a")


def exception_label(drift: pd.DataFrame) -> pd.Series:
    """The explaining review exception of each triaged drift row ("#7 mapping:missing_sku")."""
    ids = pd.Series(drift["exception_id"].astype("Int64").astype("str").to_numpy(), dtype="str")
    reasons = pd.Series(drift["exception_reason"].to_numpy(), dtype="str")
    explained = drift["explained"].to_numpy(dtype=bool)
    return ("#" + ids + " " + reasons).where(explained, "none")
