"""Merge dataset versions into a new one, de-duplicated on keys + date, with a conflict report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import InputError

__all__ = ["merge", "ON_CONFLICT"]

ON_CONFLICT = ("keep-last", "keep-first", "fail")


def merge(
    frames_with_meta: Sequence[tuple[pd.DataFrame | pa.Table, Mapping[str, Any]]],
    *,
    on_conflict: str = "keep-last",
    name: str = "merged",
    version: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Combine datasets in the order given.

    Rows with the same keys and date that are identical are kept once;
    rows that differ are *conflicts*: ``keep-last`` keeps the later dataset's
    row, ``keep-first`` the earlier one, ``fail`` raises :class:`InputError`.
    Returns the merged frame (sorted by keys and date), the conflict report
    (keys, date, the parent each value came from, the differing values, which
    one was kept) and the metadata of the new version naming its parents.
    """
    from .metadata import build_metadata
    from .summary import infer_roles

    if on_conflict not in ON_CONFLICT:
        raise InputError(f"--on-conflict must be one of {', '.join(ON_CONFLICT)}, not {on_conflict!r}")
    if len(frames_with_meta) < 2:
        raise InputError("merge needs at least two datasets")
    frames, metas = [], []
    for i, (df, meta) in enumerate(frames_with_meta):
        df = df.to_pandas() if isinstance(df, pa.Table) else df.copy()
        df["__parent"] = i
        frames.append(df)
        metas.append(dict(meta or {}))
    templates = {m.get("template") for m in metas if m.get("template")}
    if len(templates) > 1:
        raise InputError(f"cannot merge datasets of different templates: {', '.join(sorted(templates))}")
    date_col, keys, target = infer_roles(frames[0], metas[0])
    for i, df in enumerate(frames):
        missing = [c for c in [date_col, *keys] if c not in df.columns]
        if missing:
            raise InputError(
                f"dataset {i + 1} ({metas[i].get('name', '?')}) lacks column(s) {', '.join(missing)}"
            )
    data = pd.concat(frames, ignore_index=True, sort=False)
    value_cols = [c for c in data.columns if c not in (date_col, *keys, "__parent")]
    on = [*keys, date_col]
    if target and target in data.columns:
        # A planned row (target empty: the known-future values of a coming day) gives way to
        # a recorded row of its day, whatever the policy: a plan never hides what happened.
        measured = data[target].notna().to_numpy()
        recorded = data.loc[measured, on].drop_duplicates().assign(__recorded=True)
        hit = data[on].merge(recorded, on=on, how="left")["__recorded"].eq(True).to_numpy()
        data = data[measured | ~hit].reset_index(drop=True)
    data = data.drop_duplicates(subset=[*on, *value_cols], keep="first")  # identical rows: no conflict
    dup_any = data.duplicated(on, keep=False)
    conflicts = pd.DataFrame()
    if dup_any.any():
        clash = data[dup_any].sort_values([*on, "__parent"], kind="stable")
        keep_pos = "last" if on_conflict == "keep-last" else "first"
        kept = ~clash.duplicated(on, keep=keep_pos)
        labels = [f"{m.get('name', f'dataset{i + 1}')} v{m.get('version', '?')}" for i, m in enumerate(metas)]
        conflicts = clash.assign(parent=clash["__parent"].map(dict(enumerate(labels))), kept=kept.to_numpy())
        conflicts = conflicts[[*on, "parent", *value_cols, "kept"]].reset_index(drop=True)
        if on_conflict == "fail":
            first = conflicts.iloc[0]
            where = ", ".join(f"{c}={first[c]}" for c in on)
            raise InputError(
                f"{conflicts[on].drop_duplicates().shape[0]} conflicting key(s) with --on-conflict fail; "
                f"first: {where} differs between {', '.join(conflicts['parent'].head(2))}"
            )
        data = data.sort_values("__parent", kind="stable").drop_duplicates(on, keep=keep_pos)
    data = data.sort_values(on, kind="stable").drop(columns="__parent").reset_index(drop=True)
    parents = [
        {
            "name": m.get("name"),
            "version": m.get("version"),
            "content_sha256": m.get("content_sha256"),
            "source": m.get("source"),
        }
        for m in metas
    ]
    if version is None:
        version = 1 + max([int(m.get("version", 0)) for m in metas if m.get("name") == name] or [0])
    table = pa.Table.from_pandas(data, preserve_index=False)
    meta = build_metadata(
        table,
        name=name,
        version=version,
        template=metas[0].get("template", "sales"),
        date_col=date_col,
        key_cols=keys,
        source="merge",
        parents=parents,
        extra={
            "merge": {
                "on_conflict": on_conflict,
                "conflicting_keys": int(conflicts[on].drop_duplicates().shape[0]) if len(conflicts) else 0,
            }
        },
    )
    return data, conflicts, meta
