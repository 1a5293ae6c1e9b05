"""Import templates: canonical fields, their types and the column-name synonyms.

A template names the fields a dataset of that kind holds. The importer maps
the columns of an uploaded file onto those fields (automatically by name, in
Spanish or English, or explicitly with a mapping), then parses every field
with the parser of its type. Keeping the template as plain data lets the Odoo
wizard show the same fields, types and examples as the CSV template file.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import InputError

__all__ = [
    "Field",
    "Template",
    "TEMPLATES",
    "get_template",
    "normalize_name",
    "auto_map",
    "missing_fields",
    "choose_template",
    "resolve_mapping",
    "parse_mapping_arg",
    "template_file",
    "type_descriptor",
]

#: Field types understood by the parsers in :mod:`project.datasets.parsing`.
FIELD_TYPES = ("date", "number", "text", "flag")


@dataclass(frozen=True)
class Field:
    """One canonical field of a template."""

    name: str
    type: str
    required: bool = False
    synonyms: tuple[str, ...] = ()
    minimum: float | None = None
    key: bool = False
    example: str = ""
    description: str = ""


@dataclass(frozen=True)
class Template:
    """A named set of fields; ``any_of`` lists groups where at least one must map."""

    name: str
    fields: tuple[Field, ...]
    any_of: tuple[tuple[str, ...], ...] = field(default=())
    description: str = ""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def date_field(self) -> str:
        return next(f.name for f in self.fields if f.type == "date")

    def key_fields(self, present: Iterable[str]) -> list[str]:
        """Series key fields among ``present`` (the date is not included)."""
        present = set(present)
        return [f.name for f in self.fields if f.key and f.name in present]


_SALES = Template(
    name="sales",
    description="Daily sales history, one row per date (and store/product when given).",
    fields=(
        Field(
            "date",
            "date",
            True,
            (
                "fecha",
                "date",
                "day",
                "ds",
                "dia",
                "fecha_venta",
                "fecha_de_venta",
                "sale_date",
                "sales_date",
                "order_date",
                "fecha_pedido",
                "fecha_ticket",
                "timestamp",
                "periodo",
            ),
            example="2024-01-31",
            description="Day of the sale (YYYY-MM-DD, DD/MM/YYYY or an Excel date).",
        ),
        Field(
            "sales",
            "number",
            True,
            (
                "ventas",
                "sales",
                "venta",
                "importe",
                "cantidad",
                "y",
                "unidades",
                "unidades_vendidas",
                "units",
                "units_sold",
                "quantity",
                "quantity_sold",
                "qty",
                "amount",
                "total_amount",
                "revenue",
                "total",
                "facturacion",
            ),
            minimum=0.0,
            example="125.5",
            description="Units or amount sold that day (>= 0).",
        ),
        Field(
            "store",
            "text",
            False,
            (
                "tienda",
                "store",
                "local",
                "store_id",
                "id_tienda",
                "codigo_tienda",
                "shop",
                "sucursal",
                "establecimiento",
                "punto_de_venta",
                "punto_venta",
                "location",
                "branch",
            ),
            key=True,
            example="Madrid-01",
            description="Store or location code.",
        ),
        Field(
            "product",
            "text",
            False,
            (
                "producto",
                "product",
                "sku",
                "product_id",
                "id_producto",
                "codigo_producto",
                "articulo",
                "item",
                "item_id",
                "referencia",
                "ref",
                "ean",
                "product_name",
            ),
            key=True,
            example="PAN-001",
            description="Product code or SKU.",
        ),
        Field(
            "price",
            "number",
            False,
            ("precio", "price", "precio_unitario", "unit_price", "price_unit", "pvp", "precio_venta"),
            minimum=0.0,
            example="1.20",
            description="Unit price (>= 0).",
        ),
        Field(
            "promotion",
            "flag",
            False,
            (
                "promocion",
                "promotion",
                "promo",
                "oferta",
                "en_promocion",
                "on_promotion",
                "promotion_applied",
                "promo_flag",
            ),
            example="0",
            description="1/0, yes/no or si/no: the product was on promotion.",
        ),
    ),
)

_GA4_DIMENSIONS = (
    (
        "channel",
        (
            "session_default_channel_group",
            "default_channel_group",
            "first_user_default_channel_group",
            "channel",
            "channel_group",
            "canal",
            "grupo_de_canales",
        ),
    ),
    ("source", ("session_source", "source", "first_user_source", "fuente", "origen")),
    ("medium", ("session_medium", "medium", "first_user_medium", "medio")),
    ("campaign", ("session_campaign_name", "campaign_name", "campaign", "campana")),
    ("device", ("device_category", "device", "dispositivo", "categoria_de_dispositivo")),
    ("country", ("country", "pais")),
    ("city", ("city", "ciudad")),
    ("page", ("page_path", "page", "pagina", "page_title", "ruta_de_pagina")),
    ("landing_page", ("landing_page", "landing_page_plus_query_string", "pagina_de_destino")),
    ("event", ("event_name", "event", "evento", "nombre_del_evento")),
    ("item", ("item_name", "item_id", "articulo")),
)
_GA4_METRICS = (
    ("sessions", ("sessions", "sesiones")),
    ("users", ("total_users", "users", "usuarios", "usuarios_totales")),
    ("active_users", ("active_users", "usuarios_activos")),
    ("new_users", ("new_users", "usuarios_nuevos")),
    ("pageviews", ("screen_page_views", "pageviews", "page_views", "vistas", "visualizaciones")),
    ("engaged_sessions", ("engaged_sessions", "sesiones_con_interaccion")),
    ("event_count", ("event_count", "eventos", "recuento_de_eventos")),
    ("conversions", ("conversions", "key_events", "conversiones", "eventos_clave")),
    ("transactions", ("transactions", "ecommerce_purchases", "transacciones", "compras")),
    ("revenue", ("purchase_revenue", "total_revenue", "revenue", "ingresos", "ingresos_totales")),
)

_GA4 = Template(
    name="ga4",
    description="Google Analytics 4 report: a date, optional dimensions and at least one metric.",
    fields=(
        Field(
            "date",
            "date",
            True,
            ("date", "fecha", "day", "ds", "dia"),
            example="20240131",
            description="Report day (YYYYMMDD as GA4 exports it, or YYYY-MM-DD).",
        ),
        *(
            Field(
                n,
                "text",
                False,
                s,
                key=True,
                example="Organic Search" if n == "channel" else "",
                description=f"GA4 dimension {n}.",
            )
            for n, s in _GA4_DIMENSIONS
        ),
        *(
            Field(
                n,
                "number",
                False,
                s,
                minimum=0.0,
                example="1234" if n == "sessions" else "",
                description=f"GA4 metric {n} (>= 0).",
            )
            for n, s in _GA4_METRICS
        ),
    ),
    any_of=(tuple(n for n, _ in _GA4_METRICS),),
)

TEMPLATES: Mapping[str, Template] = {"sales": _SALES, "ga4": _GA4}


def get_template(name: str) -> Template:
    """The template called ``name``; an :class:`InputError` lists the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise InputError(f"unknown template {name!r}; expected one of: {', '.join(TEMPLATES)}") from None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalize_name(name: object) -> str:
    """Column name reduced for matching: camelCase split, accents dropped, snake_case.

    ``"Fecha de Venta"`` -> ``"fecha_de_venta"``, ``"sessionDefaultChannelGroup"`` ->
    ``"session_default_channel_group"``, ``"Promoción"`` -> ``"promocion"``.
    """
    text = _CAMEL.sub("_", str(name).strip())
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub("_", text).strip("_")


def auto_map(columns: Sequence[object], template: str | Template = "sales") -> dict[str, str]:
    """Propose ``{field: column}`` for the columns of a file.

    An exact synonym match wins over a partial one (a synonym that is a whole
    word of the column name, e.g. ``"Fecha de venta"`` -> ``date``). A column
    maps to at most one field; among several candidates the synonym listed
    first wins, then the leftmost column.
    """
    tpl = get_template(template) if isinstance(template, str) else template
    normalized = [normalize_name(c) for c in columns]
    candidates: list[tuple[int, int, int, str, str]] = []
    for f in tpl.fields:
        syns = [normalize_name(s) for s in (f.name, *f.synonyms)]
        for c_index, (col, norm) in enumerate(zip(columns, normalized)):
            if not norm:
                continue
            for s_index, syn in enumerate(syns):
                if norm == syn:
                    candidates.append((0, s_index, c_index, f.name, str(col)))
                    break
                tokens = norm.split("_")
                if len(syn) > 2 and (syn in tokens or (("_" in syn) and f"_{syn}_" in f"_{norm}_")):
                    candidates.append((1, s_index, c_index, f.name, str(col)))
                    break
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for _quality, _s, _c, fname, col in sorted(candidates):
        if fname in mapping or col in used:
            continue
        mapping[fname] = col
        used.add(col)
    return {f.name: mapping[f.name] for f in tpl.fields if f.name in mapping}


def missing_fields(mapping: Mapping[str, str], template: Template) -> list[tuple[str, ...]]:
    """What ``mapping`` lacks for ``template``: one tuple per required field
    (of that field alone) and per ``any_of`` group none of whose fields is mapped."""
    mapped = {f for f, c in mapping.items() if c}
    missing = [(f.name,) for f in template.fields if f.required and f.name not in mapped]
    missing += [tuple(group) for group in template.any_of if not mapped.intersection(group)]
    return missing


def choose_template(columns: Sequence[object], preferred: str = "sales") -> str:
    """The template a file's columns fit: ``preferred`` when the automatic
    mapping covers its required fields, else the first template that is
    covered (a GA4 export imported with the default sales template), else
    ``preferred``."""
    names = [preferred, *(name for name in TEMPLATES if name != preferred)]
    for name in names:
        tpl = get_template(name)
        if not missing_fields(auto_map(columns, tpl), tpl):
            return name
    return preferred


def parse_mapping_arg(text: str | None) -> dict[str, str]:
    """Parse ``"field=Column,field2=Other Column"`` (the CLI's ``--mapping``)."""
    if not text:
        return {}
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise InputError(f"--mapping entry {part.strip()!r} is not field=Column")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _columns_text(cols: Sequence[str], limit: int = 20) -> str:
    """Column names for a message: each cut to 40 characters, at most ``limit`` of them."""
    shown = [repr(c if len(c) <= 40 else c[:37] + "...") for c in cols[:limit]]
    more = f" and {len(cols) - limit} more" if len(cols) > limit else ""
    return ", ".join(shown) + more


def resolve_mapping(
    columns: Sequence[str], template: Template, overrides: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[dict]]:
    """Final ``{field: column}`` (auto-mapping plus overrides) and the proposal table.

    Raises :class:`InputError` when an override names an unknown field or
    column, or when a required field stays unmapped.
    """
    overrides = dict(overrides or {})
    cols = [str(c) for c in columns]
    for fname, col in overrides.items():
        if fname not in template.names:
            raise InputError(
                f"--mapping names unknown field {fname!r}; template {template.name!r} "
                f"has: {', '.join(template.names)}"
            )
        if col and col not in cols:
            raise InputError(
                f"--mapping {fname}={col}: the file has no column {col!r}; "
                f"its columns are: {_columns_text(cols)}"
            )
    auto = auto_map(cols, template)
    final = {f: c for f, c in auto.items() if c not in overrides.values() and f not in overrides}
    final.update({f: c for f, c in overrides.items() if c})
    if len(set(final.values())) != len(final):
        seen: dict[str, str] = {}
        for f, c in final.items():
            if c in seen:
                raise InputError(f"column {c!r} is mapped to both {seen[c]!r} and {f!r}")
            seen[c] = f
    proposal = [
        {
            "field": f.name,
            "type": f.type,
            "required": f.required,
            "column": final.get(f.name),
            "match": "manual" if f.name in overrides else ("auto" if f.name in final else None),
        }
        for f in template.fields
    ]
    missing = [f for f in template.fields if f.required and f.name not in final]
    if missing:
        f = missing[0]
        raise InputError(
            f"required field {f.name!r} not found: no column matches "
            f"({', '.join(f.synonyms[:6])}, ...); the file has columns {_columns_text(cols)}; "
            f"pass --mapping {f.name}=COLUMN"
        )
    for group in template.any_of:
        if not any(g in final for g in group):
            raise InputError(
                f"template {template.name!r} needs at least one of: {', '.join(group)}; "
                f"none matches the columns {_columns_text(cols)}"
            )
    final = {f.name: final[f.name] for f in template.fields if f.name in final}
    return final, proposal


def type_descriptor(f: Field) -> str:
    """The text of the type row in a template file, e.g. ``"date YYYY-MM-DD (required)"``.

    The reader recognises a row made of these descriptors right under the
    header and drops it, so a filled-in template imports as it is.
    """
    kind = {"date": "date YYYY-MM-DD", "number": "number", "text": "text", "flag": "yes/no"}[f.type]
    if f.minimum is not None:
        kind += f" >= {f.minimum:g}"
    return f"{kind} ({'required' if f.required else 'optional'})"


def template_file(template: str = "sales", fmt: str = "csv") -> bytes:
    """A downloadable template: header, a type row and an example row.

    ``fmt="xlsx"`` adds an ``Instructions`` sheet with every field, its type,
    whether it is required, the accepted column names and a description.
    """
    tpl = get_template(template)
    header = list(tpl.names)
    types = [type_descriptor(f) for f in tpl.fields]
    example = [f.example for f in tpl.fields]
    if fmt == "csv":
        import csv

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerows([header, types, example])
        return buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Font

        wb = Workbook()
        ws = wb.active
        ws.title = "Data"
        ws.append(header)
        ws.append(types)
        ws.append([float(v) if f.type == "number" and v else v for f, v in zip(tpl.fields, example)])
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for cell in ws[2]:
            cell.font = Font(italic=True)
        info = wb.create_sheet("Instructions")
        info.append(["field", "type", "required", "accepted column names", "description"])
        for f in tpl.fields:
            info.append(
                [
                    f.name,
                    type_descriptor(f),
                    "yes" if f.required else "no",
                    ", ".join(f.synonyms),
                    f.description,
                ]
            )
        for group in tpl.any_of:
            info.append([])
            info.append([f"At least one of: {', '.join(group)}"])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise InputError(f"unknown template format {fmt!r}; expected csv or xlsx")
