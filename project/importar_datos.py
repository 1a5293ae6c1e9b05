"""Import a sales or GA4 CSV/XLSX upload into a validated dataset version.

Library entry points: :func:`import_file` (read, map, validate; nothing
written), :meth:`ImportResult.write` (atomic Parquet with metadata),
:func:`auto_map`, :func:`template_file`. The command line::

    python -m project.importar_datos FILE [--sheet NAME] [--template sales|ga4]
        [--mapping field=Column,...] [--duplicates skip|overwrite|fail]
        [--max-error-rate 0.01] [--base DATASET.parquet]
        --output DATASET.parquet [--errors ERRORS.csv]

Exit status 0: accepted, the clean rows written, errors under the threshold.
Exit status 2: rejected (error rate over the threshold, a required field
missing, an unreadable or hostile file, bad arguments), one line on stderr and
no output dataset. The errors CSV is written whenever the rows could be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, run_tool, tool_parser
from .errors import InputError

__all__ = [
    "ImportResult",
    "import_file",
    "inspect_file",
    "auto_map",
    "template_file",
    "errors_csv",
    "main",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_REJECTED",
]

logger = logging.getLogger(__name__)

EXIT_FAILED = EXIT_FAILURE  # unexpected internal error (never a traceback)
EXIT_REJECTED = EXIT_BAD_INPUT  # the file was rejected; nothing was written

PREVIEW_ROWS = 20


def auto_map(columns: Sequence[object], template: str = "sales") -> dict[str, str]:
    """``{field: column}`` proposed from column names (Spanish and English synonyms)."""
    from .datasets.templates import auto_map as _auto_map

    return _auto_map(columns, template)


def template_file(template: str = "sales", fmt: str = "csv") -> bytes:
    """Downloadable template (CSV or XLSX) with the columns, a type row and an example row."""
    from .datasets.templates import template_file as _template_file

    return _template_file(template, fmt)


@dataclass
class ImportResult:
    """What an import produced. Nothing is written until :meth:`write`.

    ``table`` holds the clean rows with canonical column names (Arrow);
    ``data`` is the same as a pandas DataFrame. ``errors`` has one row per
    problem: ``row`` (as a person counts it in the file, header = row 1),
    ``column`` (the file's column name), ``value`` (the raw cell) and
    ``reason``. ``proposal`` lists every template field with the column mapped
    to it and how (``auto``/``manual``/None), for a mapping editor.
    """

    table: Any
    errors: Any
    stats: dict
    mapping: dict[str, str]
    proposal: list[dict]
    columns: list[str]
    accepted: bool
    reason: str | None
    template: str
    key_columns: list[str]
    filename: str
    base_metadata: dict = field(default_factory=dict)

    @cached_property
    def data(self):
        """The clean rows as a pandas DataFrame (dates ``datetime64[ns]``)."""
        return self.table.to_pandas()

    @property
    def preview(self):
        """The first rows after mapping and parsing, for a preview grid."""
        return self.table.slice(0, PREVIEW_ROWS).to_pandas()

    @property
    def ignored_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.mapping.values()]

    def errors_csv(self) -> bytes:
        """The errors table as CSV bytes, spreadsheet formulas escaped."""
        return errors_csv(self.errors)

    def metadata(
        self,
        name: str,
        version: int | None = None,
        parents: Sequence[Mapping[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict:
        """Metadata of the dataset version these rows make (see :mod:`project.datasets.metadata`)."""
        from .datasets.metadata import build_metadata

        base = self.base_metadata
        if version is None:
            version = int(base.get("version", 0)) + 1 if base else 1
        if parents is None:
            parents = (
                [
                    {
                        "name": base.get("name"),
                        "version": base.get("version"),
                        "content_sha256": base.get("content_sha256"),
                    }
                ]
                if base
                else []
            )
        info = {
            "original_filename": self.filename,
            "import": _jsonable(self.stats),
            "mapping": dict(self.mapping),
        }
        info.update(extra or {})
        return build_metadata(
            self.table,
            name=name,
            version=version,
            template=self.template,
            key_cols=self.key_columns,
            source="upload",
            parents=parents,
            extra=info,
        )

    def write(self, path: str | os.PathLike[str], metadata: Mapping[str, Any]) -> Path:
        """Write the dataset atomically; refuses a rejected import."""
        from .datasets.metadata import write_dataset

        if not self.accepted:
            raise InputError(f"import rejected, nothing written: {self.reason}")
        return write_dataset(self.table, path, metadata)


def errors_csv(errors) -> bytes:
    """Errors table -> CSV bytes (UTF-8 with BOM, formula-like cells escaped)."""
    from .datasets.export import frame_to_csv_bytes

    return frame_to_csv_bytes(errors)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def inspect_file(
    source: str | os.PathLike[str] | bytes,
    filename: str | None = None,
    *,
    template: str = "sales",
    sheet: str | None = None,
    limits: Any = None,
) -> dict:
    """Columns, automatic mapping proposal and the first raw rows of a file, for a mapping editor.

    Unlike :func:`import_file` it does not require the required fields to be
    mapped, so a wizard can show the columns and let a person map them. Bad or
    hostile files still raise :class:`InputError`.
    """
    from .datasets import reader as rd
    from .datasets.templates import auto_map as _auto_map
    from .datasets.templates import get_template

    tpl = get_template(template)
    limits = limits or rd.Limits()
    head, name = rd.load_head(source, filename, limits)
    kind = rd.detect_kind(head, name)

    def score(cells: Sequence[str]) -> int:
        return len(_auto_map(cells, tpl))

    if kind == "csv":
        layout = rd.sniff_csv(head, score)
        columns, sample = layout.columns, [list(r) for r in layout.sample_rows]
        info = {
            "format": "csv",
            "encoding": layout.encoding,
            "delimiter": layout.delimiter,
            "header_row": layout.header_index + 1,
        }
    else:
        raw = rd.read_xlsx(rd.load_all(source), name, sheet, score, limits)
        columns = raw.columns
        sample = [list(r.values()) for r in raw.table.slice(0, 5).to_pylist()]
        info = {k: raw.info[k] for k in ("format", "sheet", "sheets", "header_row")}
    auto = _auto_map(columns, tpl)
    proposal = [
        {
            "field": f.name,
            "type": f.type,
            "required": f.required,
            "column": auto.get(f.name),
            "match": "auto" if f.name in auto else None,
        }
        for f in tpl.fields
    ]
    return {"filename": name, "columns": list(columns), "proposal": proposal, "sample": sample, **info}


def import_file(
    source: str | os.PathLike[str] | bytes,
    filename: str | None = None,
    *,
    template: str = "sales",
    mapping: Mapping[str, str] | None = None,
    duplicates: str = "skip",
    max_error_rate: float = 0.01,
    base: Any = None,
    sheet: str | None = None,
    today: dt.date | None = None,
    limits: Any = None,
) -> ImportResult:
    """Read, map and validate an upload. Raises :class:`InputError` for a file that
    cannot be imported at all; a file with too many bad rows comes back with
    ``accepted=False`` and its errors.

    ``source`` is a path or the file's bytes (then ``filename`` gives the
    extension). ``base`` is a dataset path, an Arrow table or a DataFrame whose
    rows the new ones are checked against and merged with.
    """
    import pyarrow as pa

    from .datasets import reader as rd
    from .datasets.metadata import read_dataset
    from .datasets.templates import auto_map as _auto_map
    from .datasets.templates import get_template, resolve_mapping
    from .datasets.validation import validate

    tpl = get_template(template)
    limits = limits or rd.Limits()
    overrides = dict(mapping or {})
    head, name = rd.load_head(source, filename, limits)
    kind = rd.detect_kind(head, name)
    wanted_names = set(overrides.values())

    def score(cells: Sequence[str]) -> int:
        return len(_auto_map(cells, tpl)) + 2 * sum(1 for c in cells if c in wanted_names)

    base_table, base_meta = None, {}
    if base is not None:
        if isinstance(base, (str, os.PathLike)):
            base_table, base_meta = read_dataset(base)
        elif isinstance(base, pa.Table):
            base_table = base
        else:
            base_table = pa.Table.from_pandas(base, preserve_index=False)

    if kind == "csv":
        if sheet is not None:
            raise InputError("--sheet applies to .xlsx files only")
        encoding = None
        for attempt in range(2):
            layout = rd.sniff_csv(head, score, encoding=encoding)
            final, proposal = resolve_mapping(layout.columns, tpl, overrides)
            decimal_hint = "," if layout.delimiter == ";" else "."
            numeric = (
                [c for f, c in final.items() if tpl.field(f).type == "number"] if decimal_hint == "." else []
            )
            try:
                raw = rd.read_csv(source, layout, final.values(), numeric=numeric)
                break
            except rd.NotUtf8:
                if attempt:
                    raise InputError(f"{name}: the text encoding cannot be determined") from None
                logger.info(
                    "%s is not UTF-8 past its first MiB; detecting the encoding on the whole file", name
                )
                encoding = rd.detect_encoding(rd.load_all(source))
    else:
        data = rd.load_all(source)
        raw = rd.read_xlsx(data, name, sheet, score, limits)
        del data
        final, proposal = resolve_mapping(raw.columns, tpl, overrides)
        decimal_hint = "."
    checked = validate(
        raw,
        tpl,
        final,
        duplicates=duplicates,
        base=base_table,
        today=today,
        max_error_rate=max_error_rate,
        decimal_hint=decimal_hint,
    )
    stats = {
        **raw.info,
        **checked.stats,
        "filename": name,
        "template": tpl.name,
        "mapping": dict(final),
        "ignored_columns": [c for c in raw.columns if c not in final.values()],
    }
    return ImportResult(
        checked.table,
        checked.errors,
        stats,
        dict(final),
        proposal,
        list(raw.columns),
        checked.accepted,
        checked.reason,
        tpl.name,
        checked.key_columns,
        name,
        base_meta,
    )


# ----------------------------------------------------------------------- CLI
def _default_name(output: Path, base_meta: Mapping[str, Any]) -> str:
    if base_meta.get("name"):
        return str(base_meta["name"])
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", output.stem).strip("._-") or "dataset"
    return name[:100]


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        prog="python -m project.importar_datos",
        description="Import a sales/GA4 CSV or XLSX file into a validated Parquet dataset version. "
        "Exit 0 accepted, 2 rejected (reason on stderr, no dataset written).",
    )
    parser.add_argument("file", metavar="FILE", help="the .csv or .xlsx file to import")
    parser.add_argument(
        "--sheet", metavar="NAME", help="sheet of an .xlsx file (default: first non-empty sheet)"
    )
    parser.add_argument(
        "--template",
        default="sales",
        choices=("sales", "ga4"),
        help="canonical fields to map onto (default: sales)",
    )
    parser.add_argument(
        "--mapping",
        metavar="FIELD=COLUMN,...",
        help="explicit column mapping overriding the automatic one, e.g. sales=Unidades",
    )
    parser.add_argument(
        "--duplicates",
        default="skip",
        choices=("skip", "overwrite", "fail"),
        help="rows with the same keys and date (in the file or in --base): keep the first, "
        "let later rows replace earlier ones, or reject the file (default: skip)",
    )
    parser.add_argument(
        "--max-error-rate",
        type=float,
        default=0.01,
        metavar="RATE",
        help="largest share of bad rows still accepted, 0..1 (default: 0.01)",
    )
    parser.add_argument(
        "--base",
        metavar="DATASET.parquet",
        help="existing dataset version to check duplicates against and extend",
    )
    parser.add_argument("--output", required=True, metavar="DATASET.parquet", help="dataset file to write")
    parser.add_argument(
        "--errors",
        metavar="ERRORS.csv",
        help="where to write the rejected rows (default: OUTPUT with .errors.csv)",
    )
    parser.add_argument("--name", help="dataset name (default: the base's name or the output file name)")
    parser.add_argument("--version", type=int, help="dataset version (default: base version + 1, else 1)")
    parser.add_argument(
        "--max-uncompressed-mb",
        type=int,
        default=512,
        metavar="MB",
        help="largest size an .xlsx may inflate to (default: 512)",
    )
    parser.add_argument("--json", action="store_true", help="print the import statistics as JSON on stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(
        build_parser(),
        argv,
        _main,
        action="import",
        bad_input="rejected",
        interrupted=(EXIT_FAILED, "interrupted, nothing written"),
    )


def _main(args: argparse.Namespace) -> int:
    from .datasets.export import atomic_write_bytes
    from .datasets.metadata import check_name
    from .datasets.reader import Limits
    from .datasets.templates import parse_mapping_arg

    output = Path(args.output)
    errors_path = Path(args.errors) if args.errors else output.with_name(output.stem + ".errors.csv")
    if args.version is not None and args.version < 1:
        raise InputError("--version must be 1 or more")
    if output.resolve() == Path(args.file).resolve():
        raise InputError("--output must not be the input file")
    try:
        result = import_file(
            args.file,
            template=args.template,
            mapping=parse_mapping_arg(args.mapping),
            duplicates=args.duplicates,
            max_error_rate=args.max_error_rate,
            base=args.base,
            sheet=args.sheet,
            limits=Limits(max_uncompressed_bytes=args.max_uncompressed_mb << 20),
        )
    except MemoryError:
        raise InputError("not enough memory to import this file") from None
    atomic_write_bytes(errors_path, result.errors_csv())
    if not result.accepted:
        print(f"rejected: {result.reason} (details in {errors_path})", file=sys.stderr)
        return EXIT_REJECTED
    name = check_name(args.name) if args.name else _default_name(output, result.base_metadata)
    meta = result.metadata(name, version=args.version)
    result.write(output, meta)
    s = result.stats
    if args.json:
        print(
            json.dumps(
                {"output": str(output), "errors": str(errors_path), "metadata": meta, "stats": _jsonable(s)},
                ensure_ascii=False,
            )
        )
    else:
        print(
            f"accepted: {s['rows_valid']} of {s['rows_read']} rows imported, {s['rows_rejected']} rejected "
            f"({s['error_rate']:.2%}); {meta['rows']} rows in {output} ({meta['name']} v{meta['version']})"
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
