"""Vectorised parsers from raw cells (Arrow arrays) to typed columns.

Every parser returns the parsed values, a mask of cells that are empty and a
mask of cells that hold something that could not be parsed. Nothing loops over
rows in Python: numbers go through Arrow's regex and cast kernels, dates are
parsed once per distinct value (a sales file has a few thousand distinct dates
for a million rows) and mapped back through dictionary indices.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError

__all__ = [
    "Parsed",
    "parse_date",
    "parse_number",
    "parse_text",
    "parse_flag",
    "as_string",
    "detect_decimal",
    "DATE_FORMAT_LABELS",
    "parse_dates",
    "day_first_wins",
    "calendar_regularity",
]

logger = logging.getLogger(__name__)

EXCEL_EPOCH = np.datetime64("1899-12-30", "ns")
MAX_EXCEL_SERIAL = 2_958_465  # 9999-12-31

#: strptime format -> what a person reads in a message.
DATE_FORMAT_LABELS = {
    "ISO8601": "YYYY-MM-DD",
    "%Y%m%d": "YYYYMMDD",
    "%d/%m/%Y": "DD/MM/YYYY",
    "%m/%d/%Y": "MM/DD/YYYY",
    "%d-%m-%Y": "DD-MM-YYYY",
    "%m-%d-%Y": "MM-DD-YYYY",
    "%d.%m.%Y": "DD.MM.YYYY",
    "%Y/%m/%d": "YYYY/MM/DD",
    "%d/%m/%y": "DD/MM/YY",
    "%m/%d/%y": "MM/DD/YY",
    "%d/%m/%Y %H:%M": "DD/MM/YYYY hh:mm",
    "%d/%m/%Y %H:%M:%S": "DD/MM/YYYY hh:mm:ss",
    "%m/%d/%Y %H:%M": "MM/DD/YYYY hh:mm",
    "%m/%d/%Y %H:%M:%S": "MM/DD/YYYY hh:mm:ss",
    "excel": "an Excel date serial",
}
_DMY = {"%d/%m/%Y", "%d-%m-%Y", "%d/%m/%y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d.%m.%Y"}
_MDY = {"%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"}
_SERIAL_RE = re.compile(r"^\d{1,7}(\.\d+)?$")
_MAX_EXAMPLES = 5
_YMD8_RE = re.compile(r"^(19|20|21)\d{6}$")


@dataclass
class Parsed:
    """Result of a parser: values plus ``empty`` and ``invalid`` masks (numpy bool)."""

    values: object  # numpy array or pyarrow Array
    empty: np.ndarray
    invalid: np.ndarray
    detail: str = ""
    #: text only: int codes of the normalised values (-1 for empty), for fast grouping
    codes: np.ndarray | None = None


def _is_stringlike(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def as_string(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Cells as a plain Arrow string array (dictionary decoded, numbers formatted)."""
    arr = _chunk(arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_null(arr.type):
        return pa.array([None] * len(arr), pa.string())
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _empty_mask(arr: pa.Array) -> np.ndarray:
    """Null or blank (whitespace-only) cells."""
    if _is_stringlike(arr.type):
        if pa.types.is_dictionary(arr.type):
            blank_dict = pc.equal(pc.utf8_trim_whitespace(arr.dictionary), "").to_numpy(zero_copy_only=False)
            idx = arr.indices.to_numpy(zero_copy_only=False)
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            out = ~valid
            if len(blank_dict):
                out |= valid & blank_dict[np.where(valid, idx, 0)]
            return out
        blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
        return pc.fill_null(blank, True).to_numpy(zero_copy_only=False)
    return arr.is_null().to_numpy(zero_copy_only=False)


# ----------------------------------------------------------------- dates
def _parse_unique_dates(values: pd.Series) -> tuple[np.ndarray, str]:
    """Parse distinct date strings, choosing formats by how many values each explains."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    if not len(values):
        return out, "YYYY-MM-DD"
    s = values.str.strip()
    sample = s.iloc[:5000]
    scores: dict[str, int] = {}
    for fmt in DATE_FORMAT_LABELS:
        if fmt == "excel":
            scores[fmt] = int(sample.str.fullmatch(_SERIAL_RE.pattern).sum())
            continue
        if fmt == "ISO8601":
            ok = pd.to_datetime(
                sample.where(~sample.str.fullmatch(r"\d+(\.\d+)?")), format="ISO8601", errors="coerce"
            )
        else:
            ok = pd.to_datetime(sample, format=fmt, errors="coerce")
        scores[fmt] = int(ok.notna().sum())
    drop = _MDY if day_first_wins(_reading(sample, _DMY), _reading(sample, _MDY)) else _DMY
    order = sorted(
        (k for k, v in scores.items() if v and k not in drop),
        key=lambda k: (-scores[k], list(DATE_FORMAT_LABELS).index(k)),
    )
    if "%Y%m%d" in order and "excel" in order:
        order.remove("%Y%m%d")
        order.insert(order.index("excel"), "%Y%m%d")
    remaining = np.ones(len(s), dtype=bool)
    for fmt in order:
        sub = s[remaining]
        if fmt == "excel":
            serial = pd.to_numeric(sub.where(sub.str.fullmatch(_SERIAL_RE.pattern)), errors="coerce")
            serial = serial.where((serial >= 1) & (serial <= MAX_EXCEL_SERIAL))
            parsed = _excel_serial_to_datetime(serial.to_numpy(dtype="float64"))
        elif fmt == "ISO8601":
            parsed = pd.to_datetime(
                sub.where(~sub.str.fullmatch(r"\d+(\.\d+)?")), format="ISO8601", errors="coerce", utc=False
            ).to_numpy()
        else:
            parsed = pd.to_datetime(sub, format=fmt, errors="coerce").to_numpy()
        parsed = np.asarray(parsed).astype("datetime64[ns]")
        idx = np.flatnonzero(remaining)
        ok = ~np.isnat(parsed)
        out[idx[ok]] = parsed[ok]
        remaining[idx[ok]] = False
        if not remaining.any():
            break
    label = DATE_FORMAT_LABELS[order[0]] if order else "YYYY-MM-DD"
    return out, label


def _reading(values: pd.Series, formats: set[str]) -> np.ndarray:
    """``values`` parsed by the first of ``formats`` that reads each one (NaT where none does)."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    for fmt in sorted(formats):
        missing = np.isnat(out)
        if not missing.any():
            break
        parsed = pd.to_datetime(values[missing], format=fmt, errors="coerce").to_numpy("datetime64[ns]")
        out[np.flatnonzero(missing)] = parsed
    return out


def _excel_serial_to_datetime(serial: np.ndarray) -> np.ndarray:
    """Excel 1900 date system: serial 1 = 1900-01-01; 60 is Excel's phantom 1900-02-29."""
    serial = np.asarray(serial, dtype="float64")
    days = np.where(serial < 60, serial + 1, serial)
    ok = np.isfinite(days)
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    ns = (days[ok] * 86_400e9).round().astype("int64")
    out[ok] = EXCEL_EPOCH + ns.astype("timedelta64[ns]")
    return out


def parse_date(arr: pa.Array | pa.ChunkedArray) -> Parsed:
    """Dates from ISO/day-first/month-first strings, YYYYMMDD, Excel serials or timestamps.

    Values are normalised to midnight (datasets are daily). ``detail`` names the
    format that explains most values, for messages ("expected DD/MM/YYYY").
    Day-first versus month-first follows :func:`day_first_wins`, decided on
    the column's distinct values; values only the other reading explains are
    invalid cells.
    """
    arr = _chunk(arr)
    empty = _empty_mask(arr)
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        if pa.types.is_timestamp(t) and t.tz is not None:
            arr = pc.local_timestamp(arr)
        values = pc.cast(arr, pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        values = values.astype("datetime64[D]").astype("datetime64[ns]")
        return Parsed(values, empty, np.zeros(len(arr), bool), "a date")
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        ymd = np.isfinite(num) & (num >= 19000101) & (num <= 21001231) & (num == np.floor(num))
        values = np.full(len(num), np.datetime64("NaT"), dtype="datetime64[ns]")
        if ymd.any():
            values[ymd] = pd.to_datetime(
                num[ymd].astype("int64").astype(str), format="%Y%m%d", errors="coerce"
            ).to_numpy()
        serial = np.isfinite(num) & (num >= 1) & (num <= MAX_EXCEL_SERIAL) & ~ymd
        if serial.any():
            values[serial] = _excel_serial_to_datetime(num[serial])
        values = values.astype("datetime64[D]").astype("datetime64[ns]")
        invalid = ~empty & np.isnat(values)
        return Parsed(values, empty, invalid, "an Excel date serial" if serial.any() else "YYYYMMDD")
    if not _is_stringlike(t):
        arr = as_string(arr)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    dictionary = arr.dictionary.to_pandas().astype(object)
    parsed_uniques, label = _parse_unique_dates(dictionary.astype(str))
    # one extra NaT slot for null cells, so the mapping back is a single gather
    lookup = np.append(
        parsed_uniques.astype("datetime64[D]").astype("datetime64[ns]"), np.datetime64("NaT", "ns")
    )
    idx = pc.fill_null(arr.indices, len(parsed_uniques)).to_numpy(zero_copy_only=False)
    values = lookup[idx]
    invalid = ~empty & np.isnat(values)
    return Parsed(values, empty, invalid, label)


# --------------------------------------------------------------- numbers
_EVIDENCE_COMMA = re.compile(r",\d{1,2}$|,\d{4,}$|\.\d{3},")
_EVIDENCE_POINT = re.compile(r"\.\d{1,2}$|\.\d{4,}$|,\d{3}\.")
_NUM_POINT = r"^[+-]?(\d{1,3}(,\d{3})+|\d*)(\.\d*)?([eE][+-]?\d+)?$"
_NUM_COMMA = r"^[+-]?(\d{1,3}(\.\d{3})+|\d*)(,\d*)?([eE][+-]?\d+)?$"
_JUNK = "[\\s\u00a0\u202f\u2009€$£]"


def detect_decimal(sample: list[str], hint: str = ".") -> str:
    """``","`` or ``"."`` as the decimal mark of a column, judged from its values.

    A comma followed by one, two or four-plus digits, or ``1.234,5``, is
    evidence for a decimal comma; the mirror cases for a point. Values that
    say nothing (``1.234``, ``1,234``, integers) follow ``hint`` (a file
    delimited by ``;`` usually comes from a decimal-comma locale).
    """
    comma = sum(1 for v in sample if _EVIDENCE_COMMA.search(v))
    point = sum(1 for v in sample if _EVIDENCE_POINT.search(v))
    if comma > point:
        return ","
    if point > comma:
        return "."
    return hint


def parse_number(arr: pa.Array | pa.ChunkedArray, decimal_hint: str = ".") -> Parsed:
    """Floats from numbers or text with decimal comma/point and thousands separators.

    Thousands groups must be well formed (``1.234.567,8``); currency symbols and
    spaces are ignored; ``nan``/``inf`` and anything else are invalid.
    """
    arr = _chunk(arr)
    empty = _empty_mask(arr)
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = (arr if t == pa.float64() else pc.cast(arr, pa.float64())).to_numpy(zero_copy_only=False)
        invalid = ~empty & ~np.isfinite(values)
        return Parsed(values, empty, invalid, ".")
    s = as_string(arr) if not pa.types.is_string(t) else arr
    s = pc.utf8_trim_whitespace(s)
    sample = [v for v in s.slice(0, 20000).to_pylist() if v]
    decimal = detect_decimal(sample, decimal_hint)
    values = None
    if decimal == "." and not any("," in v for v in sample[:2000]):
        try:  # fast path: Arrow's own float parser, one C++ pass
            values = pc.cast(
                pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), s), pa.float64()
            ).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            values = None
    if values is None:
        cleaned = pc.replace_substring_regex(s, _JUNK, "")
        valid = pc.fill_null(
            pc.match_substring_regex(cleaned, _NUM_COMMA if decimal == "," else _NUM_POINT), False
        )
        valid = pc.and_(valid, pc.match_substring_regex(cleaned, r"\d"))
        if decimal == ",":
            cleaned = pc.replace_substring(pc.replace_substring(cleaned, ".", ""), ",", ".")
        else:
            cleaned = pc.replace_substring(cleaned, ",", "")
        cleaned = pc.replace_substring_regex(cleaned, r"^\+", "")
        cleaned = pc.replace_substring_regex(cleaned, r"^(-?)\.", r"\10.")
        cleaned = pc.replace_substring_regex(cleaned, r"\.($|[eE])", r"\1")
        values = pc.cast(pc.if_else(valid, cleaned, pa.scalar(None, pa.string())), pa.float64()).to_numpy(
            zero_copy_only=False
        )
    values = np.asarray(values, dtype="float64")  # empty cells are null, hence NaN, already
    invalid = ~empty & ~np.isfinite(values)
    return Parsed(values, empty, invalid, decimal)


# ----------------------------------------------------------------- text
def parse_text(arr: pa.Array | pa.ChunkedArray) -> Parsed:
    """Trimmed, NFC-normalised text; blank cells are empty. Work is per distinct value."""
    arr = _chunk(arr)
    empty = _empty_mask(arr)
    if not _is_stringlike(arr.type):
        arr = as_string(arr)
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    normalized = pc.dictionary_encode(pc.utf8_normalize(pc.utf8_trim_whitespace(arr.dictionary), "NFC"))
    remap = normalized.indices.to_numpy(zero_copy_only=False)
    idx = pc.fill_null(arr.indices, 0).to_numpy(zero_copy_only=False)
    codes = remap[idx].astype(np.int32) if len(remap) else np.zeros(len(arr), np.int32)
    codes[empty] = -1
    values = pc.take(normalized.dictionary, pa.array(codes, mask=empty))
    return Parsed(values, empty, np.zeros(len(arr), bool), "text", codes)


_TRUE = {"1", "1.0", "true", "t", "yes", "y", "si", "sí", "s", "x", "verdadero", "promo", "on"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "falso", "off", "-"}


def parse_flag(arr: pa.Array | pa.ChunkedArray) -> Parsed:
    """Booleans from 1/0, true/false, yes/no, sí/no, x."""
    arr = _chunk(arr)
    empty = _empty_mask(arr)
    if pa.types.is_boolean(arr.type):
        values = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
        return Parsed(values, empty, np.zeros(len(arr), bool), "yes/no")
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        num = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        invalid = ~empty & ~np.isin(num, (0.0, 1.0))
        return Parsed(np.nan_to_num(num) == 1.0, empty, invalid, "yes/no")
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(as_string(arr))
    words = pc.utf8_lower(pc.utf8_trim_whitespace(arr.dictionary)).to_pylist()
    truth = np.array([w in _TRUE for w in words] + [False], dtype=bool)
    known = np.array([w in _TRUE or w in _FALSE for w in words] + [False], dtype=bool)
    idx = pc.fill_null(arr.indices, len(words)).to_numpy(zero_copy_only=False)
    values = truth[idx]
    invalid = ~empty & ~known[idx]
    return Parsed(values, empty, invalid, "yes/no")


# ----------------------------------------------------------------- date columns (pandas)

_RE_YYYYMMDD = re.compile(r"^\d{8}$")
_RE_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T].*)?$")
_RE_YMD_SLASH = re.compile(r"^\d{4}[/.]\d{1,2}[/.]\d{1,2}([ T].*)?$")
_RE_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})([ T].*)?$")


def parse_dates(values: pd.Series) -> tuple[pd.Series, str]:
    """Parse a date column; return midnight-normalised dates and the format used.

    The format is decided for the whole column, never row by row, so that
    ``03/04/2024`` means the same day in every row: ISO (``2024-03-04``, with
    or without time), ``YYYYMMDD`` (GA4), ``YYYY/MM/DD``, and day-first or
    month-first slashed dates. Day-first versus month-first follows the
    project's one rule, :func:`day_first_wins`; a column where some values are
    only day-first and others only month-first is refused. Times are dropped
    (timezone-aware values keep their wall-clock date).

    Raises :class:`InputError` naming the first rows that cannot be parsed.
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        fmt = "datetime"
    else:
        # A date column repeats a few hundred distinct values over many rows:
        # parse each distinct value once.
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        text = _as_text(pd.Series(uniques, dtype=object))
        nonblank = text[text != ""]
        if nonblank.empty:
            raise InputError("the date column is empty in every row")
        fmt, parsed_unique = _parse_text_dates(text, nonblank)
        lookup = np.append(parsed_unique.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
        parsed = pd.Series(lookup[codes], index=values.index)
    bad = parsed.isna()
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        examples = ", ".join(f"row {i + 1} ({values.iloc[i]!r})" for i in rows[:_MAX_EXAMPLES])
        more = f" and {len(rows) - _MAX_EXAMPLES} more" if len(rows) > _MAX_EXAMPLES else ""
        raise InputError(
            f"{len(rows)} date(s) cannot be parsed as {fmt} dates: {examples}{more}; "
            "expected ISO (2024-03-31), YYYYMMDD (20240331) or DD/MM/YYYY in every row"
        )
    return pd.Series(pd.DatetimeIndex(parsed).normalize().as_unit("ns"), index=values.index), fmt


def _as_text(values: pd.Series) -> pd.Series:
    def one(v: Any) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            return ""
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))  # 20240331 read as float when a row is blank: drop the ".0"
        return str(v).strip()

    return values.map(one)


def _parse_text_dates(text: pd.Series, nonblank: pd.Series) -> tuple[str, pd.Series]:
    def share(pattern: re.Pattern[str]) -> float:
        return float(nonblank.str.match(pattern).mean())

    if share(_RE_YYYYMMDD) == 1.0:
        return "YYYYMMDD", pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    if share(_RE_ISO) >= 0.5:
        day = text.str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[ T]|$)", expand=False)
        return "ISO", pd.to_datetime(day, format="%Y-%m-%d", errors="coerce")
    if share(_RE_YMD_SLASH) >= 0.5:
        norm = text.str.extract(r"^(\d{4}[/.]\d{1,2}[/.]\d{1,2})(?:[ T]|$)", expand=False)
        norm = norm.str.replace(".", "/", regex=False)
        return "YYYY/MM/DD", pd.to_datetime(norm, format="%Y/%m/%d", errors="coerce")
    if share(_RE_DMY) >= 0.5:
        parts = nonblank.str.extract(_RE_DMY)
        first = pd.to_numeric(parts[0], errors="coerce")
        second = pd.to_numeric(parts[1], errors="coerce")
        day_first_possible = not (second > 12).any()
        month_first_possible = not (first > 12).any()
        if not day_first_possible and not month_first_possible:
            raise InputError(
                "the date column mixes day-first and month-first dates "
                f"(e.g. {nonblank[first > 12].iloc[0]!r} and {nonblank[second > 12].iloc[0]!r}); "
                "use one format, preferably ISO 2024-03-31"
            )
        dmy = _parse_dmy(text, dayfirst=True)
        mdy = _parse_dmy(text, dayfirst=False)
        if day_first_wins(dmy.to_numpy("datetime64[ns]"), mdy.to_numpy("datetime64[ns]")):
            return "DD/MM/YYYY", dmy
        return "MM/DD/YYYY", mdy
    return "mixed", pd.to_datetime(text, format="mixed", errors="coerce")


def _parse_dmy(text: pd.Series, *, dayfirst: bool) -> pd.Series:
    parts = text.str.extract(_RE_DMY)
    day, month = (parts[0], parts[1]) if dayfirst else (parts[1], parts[0])
    year = parts[2].where(parts[2].str.len() != 2, "20" + parts[2])
    return pd.to_datetime(year + "-" + month + "-" + day, format="%Y-%m-%d", errors="coerce")


# ----------------------------------------------------------------- the day/month rule
def calendar_regularity(dates: np.ndarray) -> float:
    """Share of one-day steps between consecutive distinct dates (daily data is regular)."""
    unique = np.unique(np.asarray(dates, dtype="datetime64[ns]"))
    unique = unique[~np.isnat(unique)]
    if len(unique) < 2:
        return 0.0
    steps = np.diff(unique).astype("timedelta64[D]").astype(np.int64)
    return float(np.mean(steps == 1))


def day_first_wins(day_first: np.ndarray, month_first: np.ndarray) -> bool:
    """The project's one rule for ambiguous day/month dates: True to read the column day-first.

    ``day_first`` and ``month_first`` are the two readings (``datetime64``,
    NaT where a reading fails) of the same values.  The reading that explains
    more values wins: a day above 12 in either position settles the column.
    When both explain the same values (every one ambiguous, like
    ``03/04/2024``), the reading that gives the more regular daily calendar
    wins, and a tie goes to day-first, the Spanish/European habit.  The
    column is decided as a whole, never row by row.
    """
    n_day, n_month = int((~np.isnat(day_first)).sum()), int((~np.isnat(month_first)).sum())
    if n_day != n_month:
        return n_day > n_month
    return calendar_regularity(month_first) <= calendar_regularity(day_first)
