"""Vectorised validation of a mapped file: types, ranges, duplicates, error table.

``validate`` never raises on a bad row: it collects every problem as a row of
the errors table (row as a person counts it, column, value, reason) and
decides acceptance from the error rate. It raises :class:`InputError` only
for decisions about the whole file (``--duplicates fail`` meeting a
duplicate, no data rows at all, a base dataset that does not fit).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from .parsing import Parsed, as_string, parse_date, parse_flag, parse_number, parse_text
from .reader import RawTable
from .templates import Template, type_descriptor

__all__ = ["Validation", "validate", "DUPLICATE_POLICIES", "ERROR_COLUMNS"]

logger = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("skip", "overwrite", "fail")
ERROR_COLUMNS = ["row", "column", "value", "reason"]
_PARSERS = {"date": parse_date, "number": parse_number, "text": parse_text, "flag": parse_flag}
_ARROW_TYPES = {"date": pa.timestamp("ns"), "number": pa.float64(), "text": pa.string(), "flag": pa.bool_()}


@dataclass
class Validation:
    """Outcome of :func:`validate`."""

    table: pa.Table
    errors: pd.DataFrame
    stats: dict
    accepted: bool
    reason: str | None
    key_columns: list[str] = field(default_factory=list)


def _empty_errors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "column": pd.Series(dtype=object),
            "value": pd.Series(dtype=object),
            "reason": pd.Series(dtype=object),
        }
    )


class _Errors:
    """Collects (positions, column, reason) blocks with the raw cell values, taken at once.

    Taking the values when a problem is found lets the caller drop the raw
    columns as soon as they are parsed.
    """

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.blocks: list[tuple[np.ndarray, str, np.ndarray | str, list]] = []

    def add(
        self, positions: np.ndarray, column: str, reason: np.ndarray | str, value_col: str | None = None
    ) -> None:
        if not len(positions):
            return
        value_col = column if value_col is None else value_col
        if value_col and value_col in self.raw.table.column_names:
            values = as_string(pc.take(self.raw.table.column(value_col), pa.array(positions))).to_pylist()
        else:
            values = [""] * len(positions)
        self.blocks.append((positions, column, reason, values))

    def frame(self) -> pd.DataFrame:
        frames = []
        for positions, column, reason, values in self.blocks:
            frames.append(
                pd.DataFrame(
                    {
                        "row": self.raw.row_numbers[positions],
                        "column": column,
                        "value": values,
                        "reason": reason,
                        "_order": len(frames),
                    }
                )
            )
        if self.raw.errors:
            extra = pd.DataFrame(self.raw.errors)
            extra["_order"] = -1
            frames.append(extra)
        if not frames:
            return _empty_errors()
        out = pd.concat(frames, ignore_index=True).sort_values(["row", "_order"], kind="stable")
        out["value"] = out["value"].fillna("")
        return out.drop(columns="_order").reset_index(drop=True)[ERROR_COLUMNS]


def _equals_text(column: pa.ChunkedArray | pa.Array, text: str) -> np.ndarray:
    """Cells equal to ``text`` (trimmed), computed per distinct value for dictionary columns."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = []
    for chunk in chunks:
        if pa.types.is_dictionary(chunk.type):
            hits = np.flatnonzero(
                pc.fill_null(pc.equal(pc.utf8_trim_whitespace(chunk.dictionary), text), False).to_numpy(
                    zero_copy_only=False
                )
            )
            idx = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
            out.append(np.isin(idx, hits))
        elif pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
            out.append(
                pc.fill_null(pc.equal(pc.utf8_trim_whitespace(chunk), text), False).to_numpy(
                    zero_copy_only=False
                )
            )
        else:
            out.append(np.zeros(len(chunk), dtype=bool))
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def _key_codes(
    parsed: Mapping[str, Parsed], keys: list[str], dates: np.ndarray, positions: np.ndarray | None
) -> np.ndarray | pd.DataFrame:
    """One int64 per row identifying (keys, date); a frame of codes if that would overflow.

    ``positions`` None means every row (no copy of the columns is made).
    """
    pick = (lambda a: a) if positions is None else (lambda a: a[positions])
    days = pick(dates).view("int64") // 86_400_000_000_000
    if len(days):
        days -= days.min()
    sizes = [int(parsed[k].codes.max()) + 2 if len(parsed[k].codes) else 1 for k in keys]
    sizes.append(int(days.max()) + 1 if len(days) else 1)
    if float(np.prod([float(x) for x in sizes])) < 2.0**62:
        # built in place: a few int64 columns at most, never a frame of them
        key = np.zeros(len(days), dtype=np.int64)
        for i, k in enumerate(keys):
            key *= sizes[i]
            key += pick(parsed[k].codes)
            key += 1
        key *= sizes[-1]
        key += days
        return key
    cols = [pick(parsed[k].codes).astype(np.int64) + 1 for k in keys] + [days]
    return pd.DataFrame({str(i): c for i, c in enumerate(cols)})


def _has_duplicates(key: np.ndarray) -> bool:
    """Whether any key repeats: a bitmap when the keys are dense (the usual case), else hashing."""
    if not len(key):
        return False
    span = int(key.max()) + 1
    if span <= max(16 * len(key), 1 << 20):
        seen = np.zeros(span, dtype=bool)
        seen[key] = True
        return int(np.count_nonzero(seen)) < len(key)
    return bool(pd.Series(key).duplicated().any())


def _describe_key(keys: list[str], values: Mapping[str, object], date_values: np.ndarray, pos: int) -> str:
    parts = [f"{k}={values[k][pos].as_py()!r}" for k in keys]
    parts.append(f"date={np.datetime_as_string(date_values[pos], unit='D')}")
    return ", ".join(parts)


def validate(
    raw: RawTable,
    template: Template,
    mapping: Mapping[str, str],
    *,
    duplicates: str = "skip",
    base: pa.Table | None = None,
    today: dt.date | None = None,
    max_error_rate: float = 0.01,
    decimal_hint: str = ".",
) -> Validation:
    """Parse and check the mapped columns of ``raw``; see the module docstring.

    ``raw`` is consumed: once parsed, its table keeps only the date column, so
    peak memory holds one copy of each column rather than two.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise InputError(f"--duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, not {duplicates!r}")
    if not 0 <= max_error_rate <= 1:
        raise InputError(f"--max-error-rate must be between 0 and 1, not {max_error_rate}")
    today = today or dt.date.today()
    n = raw.table.num_rows
    date_field = template.date_field
    date_col = mapping[date_field]

    # rows that are not data: a template type row right under the header, header rows repeated
    # inside the data (files concatenated with their headers)
    not_data = np.zeros(n, dtype=bool)
    type_row = False
    if n:
        descriptors = {type_descriptor(f) for f in template.fields}
        first = [as_string(raw.table.column(c).slice(0, 1))[0].as_py() for c in mapping.values()]
        cells = [c.strip() for c in first if c and c.strip()]
        if cells and all(c in descriptors for c in cells):
            not_data[0] = type_row = True
    candidates = np.flatnonzero(_equals_text(raw.table.column(date_col), date_col) & ~not_data)
    repeated = 0
    if len(candidates):
        same = np.ones(len(candidates), dtype=bool)
        for col in mapping.values():
            vals = as_string(pc.take(raw.table.column(col), pa.array(candidates)))
            same &= pc.fill_null(pc.equal(pc.utf8_trim_whitespace(vals), col), False).to_numpy(
                zero_copy_only=False
            )
        not_data[candidates[same]] = True
        repeated = int(same.sum())

    # parse and check one column at a time, dropping its raw cells as soon as it is done, so
    # peak memory holds one raw column beside the parsed ones rather than all of them
    errors = _Errors(raw)
    bad = np.zeros(n, dtype=bool)
    parsed: dict[str, Parsed] = {}
    for fname, col in mapping.items():
        f = template.field(fname)
        column = raw.table.column(col)
        p = _PARSERS[f.type](column, decimal_hint) if f.type == "number" else _PARSERS[f.type](column)
        parsed[fname] = p
        del column
        invalid = p.invalid & ~not_data
        if f.type == "date":
            reason = f"invalid date: expected {p.detail}"
        elif f.type == "number":
            reason = f"not a number: expected a number like {'1234,5' if p.detail == ',' else '1234.5'}"
        elif f.type == "flag":
            reason = "not a yes/no value: expected 1/0, yes/no or si/no"
        else:
            reason = "invalid value"
        where = np.flatnonzero(invalid)
        if len(where):
            text = pc.utf8_trim_whitespace(as_string(pc.take(raw.table.column(col), pa.array(where))))
            formula = pc.fill_null(pc.starts_with(text, "="), False).to_numpy(zero_copy_only=False)
            errors.add(
                where[formula],
                col,
                "formula without a saved result: save the file in a spreadsheet application or paste "
                "the values"
                if raw.info.get("format") == "xlsx"
                else "formula text instead of a value",
            )
            excel_error = (
                pc.fill_null(
                    pc.match_substring_regex(
                        text, r"^#(DIV/0!|N/A|NAME\?|NULL!|NUM!|REF!|VALUE!|SPILL!|CALC!|GETTING_DATA)$"
                    ),
                    False,
                ).to_numpy(zero_copy_only=False)
                & ~formula
            )
            errors.add(where[excel_error], col, "spreadsheet error value instead of data")
            errors.add(where[~formula & ~excel_error], col, reason)
        bad |= invalid
        ok = ~p.empty & ~p.invalid & ~not_data
        if f.type == "number" and f.minimum is not None:
            below = ok & (p.values < f.minimum)
            word = "negative value" if f.minimum == 0 else "value too small"
            errors.add(np.flatnonzero(below), col, f"{word}: {fname!r} must be >= {f.minimum:g}")
            bad |= below
        if f.type == "date":
            # Judged once every column is parsed: planned rows may lie after today.
            future_dates = ok & (p.values > np.datetime64(today, "ns"))
            old = ok & (p.values < np.datetime64("1900-01-01", "ns"))
            errors.add(np.flatnonzero(old), col, "implausible date before 1900")
            bad |= old
        if col != date_col:  # the date's raw text is still needed for duplicate messages
            raw.table = raw.table.drop_columns([col])
            pa.default_memory_pool().release_unused()  # let numpy reuse the pages Arrow just freed

    planned = _planned_rows(template, mapping, parsed, future_dates) & ~not_data
    late = future_dates & ~planned
    errors.add(np.flatnonzero(late), date_col, f"date in the future: history must end by {today.isoformat()}")
    bad |= late
    blank = np.logical_and.reduce([p.empty for p in parsed.values()])
    ignored = not_data | blank
    for fname, col in mapping.items():
        if template.field(fname).required:
            missing = parsed[fname].empty & ~ignored & ~planned
            errors.add(np.flatnonzero(missing), col, f"required value missing for {fname!r}")
            bad |= missing
    bad &= ~ignored

    data_rows = int(n - ignored.sum()) + len(raw.errors)
    if data_rows == 0:
        raise InputError(f"no data rows below the header (row {raw.info.get('header_row', 1)})")
    error_rows = int(bad.sum()) + len(raw.errors)
    keep = ~bad & ~ignored
    keys = template.key_fields(mapping)
    values = {k: parsed[k].values for k in keys}
    dates = parsed[date_field].values

    # duplicates inside the file
    dup_in_file = 0
    all_kept = bool(keep.all())
    positions = np.arange(n) if all_kept else np.flatnonzero(keep)
    if len(positions):
        codes = _key_codes(parsed, keys, dates, None if all_kept else positions)
        any_dup = _has_duplicates(codes) if isinstance(codes, np.ndarray) else True
        dup = np.zeros(len(positions), dtype=bool)
        if any_dup:
            frame = pd.Series(codes) if isinstance(codes, np.ndarray) else codes
            dup = frame.duplicated(keep="last" if duplicates == "overwrite" else "first").to_numpy()
        if dup.any():
            group = (
                pd.factorize(codes)[0]
                if isinstance(codes, np.ndarray)
                else codes.groupby(list(codes.columns), sort=False).ngroup().to_numpy()
            )
            if duplicates == "overwrite":
                kept_of_group = len(group) - 1 - np.unique(group[::-1], return_index=True)[1]
            else:
                kept_of_group = np.unique(group, return_index=True)[1]
            dpos = positions[dup]
            kept_rows = raw.row_numbers[positions[kept_of_group[group[dup]]]]
            if duplicates == "fail":
                first = int(np.flatnonzero(dup)[0])
                raise InputError(
                    f"duplicate rows with --duplicates fail: row {int(kept_rows[0])} and row "
                    f"{int(raw.row_numbers[dpos[0]])} have the same "
                    f"{_describe_key(keys, values, dates, int(positions[first]))}; "
                    f"{int(dup.sum())} duplicate row(s) in all"
                )
            word = "duplicate of row" if duplicates == "skip" else "superseded by the later row"
            errors.add(
                dpos,
                mapping[date_field],
                np.char.add(f"{word} ", kept_rows.astype(str)).astype(object)
                + f" (same {', '.join([*keys, 'date'])}; --duplicates {duplicates})",
            )
            keep[dpos] = False
            dup_in_file = int(dup.sum())

    table = _clean_table(template, mapping, parsed, None if keep.all() else np.flatnonzero(keep))
    stats: dict = {}
    # duplicates against the base dataset
    if base is not None:
        table, base_stats = _apply_base(table, base, template, keys, duplicates, raw, keep, errors, mapping)
        stats.update(base_stats)

    errors_df = errors.frame()
    rate = error_rows / data_rows
    accepted = rate <= max_error_rate and int(keep.sum()) > 0
    reason = None
    if not accepted:
        if rate > max_error_rate:
            reason = (
                f"{error_rows} of {data_rows} rows ({rate:.1%}) have errors, above the "
                f"{max_error_rate:.1%} threshold"
            )
        else:
            reason = "no new valid rows to import"
        if len(errors_df):
            e = errors_df.iloc[0]
            reason += f"; first: row {e['row']}, column {e['column']!r}: {e['reason']}"
    stats.update(
        {
            "rows_read": data_rows,
            "rows_valid": int(keep.sum()),
            "rows_rejected": error_rows,
            "error_rate": round(rate, 6),
            "max_error_rate": max_error_rate,
            "blank_rows": int(blank.sum()) + int(raw.info.get("blank_rows", 0)),
            "repeated_header_rows": repeated,
            "template_type_row": type_row,
            "duplicates_in_file": dup_in_file,
            "duplicate_policy": duplicates,
            "planned_rows": int((planned & keep).sum()),
            "output_rows": table.num_rows,
            "decimal": {f: parsed[f].detail for f in mapping if template.field(f).type == "number"},
            "date_format": parsed[date_field].detail,
        }
    )
    return Validation(table, errors_df, stats, accepted, reason, keys)


def _measures(template: Template, present: Iterable[str]) -> list[str]:
    """The required number fields among ``present``: what a row of history measures (sales)."""
    present = set(present)
    return [f.name for f in template.fields if f.required and f.type == "number" and f.name in present]


def _planned_rows(
    template: Template, mapping: Mapping[str, str], parsed: Mapping[str, Parsed], future_dates: np.ndarray
) -> np.ndarray:
    """Rows that plan the coming days instead of recording past ones.

    A row is planned when its measures (the required numbers: sales) are
    empty, it gives an optional number or flag (price, promotion) and it is
    dated after the last row of its series with a measure (measures dated
    after today, ``future_dates``, are errors and end nothing). That is how a user
    uploads next month's promotion calendar beside the sales history: the
    forecast needs those known-future values. Such rows may lie after today
    and are not missing sales; any other empty measure is still an error.
    """
    date_field = template.date_field
    n = len(parsed[date_field].empty)
    measures = _measures(template, mapping)
    given = [
        f.name
        for f in template.fields
        if f.name in mapping and not f.required and not f.key and f.type in ("number", "flag")
    ]
    if not measures or not given:
        return np.zeros(n, dtype=bool)
    unmeasured = np.logical_and.reduce([parsed[m].empty for m in measures])
    values = np.logical_or.reduce([~parsed[g].empty & ~parsed[g].invalid for g in given])
    dates = parsed[date_field]
    candidate = unmeasured & values & ~dates.empty & ~dates.invalid
    if not candidate.any():
        return candidate
    keys = template.key_fields(mapping)
    frame = pd.DataFrame({f"key{i}": parsed[k].codes for i, k in enumerate(keys)})
    day = pd.Series(np.asarray(dates.values, dtype="datetime64[ns]"))
    measured = day.where(~unmeasured & ~future_dates)
    if keys:
        last = measured.groupby([frame[c] for c in frame.columns]).transform("max")
    else:
        last = pd.Series(measured.max(), index=day.index)
    return candidate & (last.isna() | (day > last)).to_numpy()


def _clean_table(
    template: Template, mapping: Mapping[str, str], parsed: Mapping[str, Parsed], positions: np.ndarray | None
) -> pa.Table:
    """Canonical columns of the kept rows (``positions`` None: all rows, without copies)."""
    cols = {}
    pick = (lambda a: a) if positions is None else (lambda a: a[positions])
    for f in template.fields:
        if f.name not in mapping:
            continue
        p = parsed[f.name]
        if f.type == "text":
            cols[f.name] = p.values if positions is None else pc.take(p.values, pa.array(positions))
        elif f.type == "date":
            cols[f.name] = pa.array(pick(p.values), pa.timestamp("ns"))
        else:
            empty = pick(p.empty)
            cols[f.name] = pa.array(pick(p.values), _ARROW_TYPES[f.type], mask=empty if empty.any() else None)
    return pa.table(cols)


def _conform(base: pa.Table, template: Template, columns: list[str]) -> pa.Table:
    """Base dataset cast to the template types, with the columns of the new rows."""
    missing = [
        c
        for c in (template.date_field, *[f.name for f in template.fields if f.required])
        if c not in base.column_names
    ]
    if missing:
        raise InputError(
            f"the base dataset lacks the column(s) {', '.join(missing)} of template "
            f"{template.name!r}; its columns are {', '.join(base.column_names)}"
        )
    cols = {}
    for f in template.fields:
        if f.name in base.column_names:
            arr = base.column(f.name)
            if pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode()
            try:
                cols[f.name] = pc.cast(arr, _ARROW_TYPES[f.type])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(
                    f"base dataset column {f.name!r} has type {arr.type}, expected {_ARROW_TYPES[f.type]}"
                ) from None
        elif f.name in columns:
            cols[f.name] = pa.nulls(base.num_rows, _ARROW_TYPES[f.type])
    return pa.table(cols)


def _apply_base(
    table: pa.Table,
    base: pa.Table,
    template: Template,
    keys: list[str],
    duplicates: str,
    raw: RawTable,
    keep: np.ndarray,
    errors: _Errors,
    mapping: Mapping[str, str],
) -> tuple[pa.Table, dict]:
    base = _conform(base, template, table.column_names)
    for c in base.column_names:
        if c not in table.column_names:
            table = table.append_column(c, pa.nulls(table.num_rows, base.schema.field(c).type))
    table = table.select([f.name for f in template.fields if f.name in table.column_names])
    base = base.select(table.column_names)
    date = template.date_field
    base_keys = [k for k in keys if k in base.column_names]
    on = [*base_keys, date]
    new = table.select(on).to_pandas()
    old = base.select(on).to_pandas()
    new["__pos"] = np.arange(len(new))
    old["__pos_base"] = np.arange(len(old))
    hits = new.merge(old, on=on, how="inner")
    stats = {
        "base_rows": base.num_rows,
        "duplicates_in_base": int(hits["__pos"].nunique()),
        "overwritten_in_base": 0,
    }
    measures = _measures(template, base.column_names)
    if len(hits) and measures and base.num_rows:
        # A planned row of the base (measures empty: a promotion calendar) gives way to the
        # new row of its day, whatever the duplicate policy: actuals and revised plans replace it.
        plan = np.logical_and.reduce(
            [pc.is_null(base.column(m)).to_numpy(zero_copy_only=False) for m in measures]
        )
        superseded = plan[hits["__pos_base"].to_numpy()]
        if superseded.any():
            mask = np.ones(base.num_rows, dtype=bool)
            mask[np.unique(hits.loc[superseded, "__pos_base"].to_numpy())] = False
            positions = np.cumsum(mask) - 1
            base = base.filter(pa.array(mask))
            hits = hits[~superseded].copy()
            hits["__pos_base"] = positions[hits["__pos_base"].to_numpy()]
            stats["planned_replaced_in_base"] = int((~mask).sum())
            stats["duplicates_in_base"] = int(hits["__pos"].nunique())
    if len(hits):
        kept_positions = np.flatnonzero(keep)
        if duplicates == "fail":
            first = int(hits["__pos"].iloc[0])
            row = int(raw.row_numbers[kept_positions[first]])
            raise InputError(
                f"row {row}: ({', '.join(on)}) already exists in the base dataset and "
                f"--duplicates is fail; {stats['duplicates_in_base']} row(s) collide"
            )
        if duplicates == "skip":
            drop = np.unique(hits["__pos"].to_numpy())
            errors.add(kept_positions[drop], mapping[date], "already in the base dataset (--duplicates skip)")
            keep[kept_positions[drop]] = False
            mask = np.ones(table.num_rows, dtype=bool)
            mask[drop] = False
            table = table.filter(pa.array(mask))
        else:
            drop = np.unique(hits["__pos_base"].to_numpy())
            mask = np.ones(base.num_rows, dtype=bool)
            mask[drop] = False
            base = base.filter(pa.array(mask))
            stats["overwritten_in_base"] = int(len(drop))
    return pa.concat_tables([base, table.cast(base.schema)]), stats
