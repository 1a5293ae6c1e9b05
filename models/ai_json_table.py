"""Render the JSON blocks stored on records (schema, summary, chosen models)
as HTML tables for forms, instead of raw JSON. Every value is escaped."""

import json

from markupsafe import Markup, escape

#: Rows shown per table; the rest is counted in a last line.
MAX_ROWS = 200


def _cell(value):
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, dict):
        return escape(", ".join(f"{k}: {v}" for k, v in value.items()))
    if value is None:
        return Markup("")
    return escape(str(value))


def records_table(rows, columns=None, headers=None, max_rows=MAX_ROWS, more_label="%s more rows"):
    """An HTML table of a list of dicts (``columns``: keys in order)."""
    rows = [row for row in rows or [] if isinstance(row, dict)]
    if not rows:
        return Markup("")
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
    headers = headers or {}
    head = Markup("").join(Markup("<th>%s</th>") % headers.get(col, col) for col in columns)
    body = Markup("").join(
        Markup("<tr>%s</tr>")
        % Markup("").join(Markup("<td>%s</td>") % _cell(row.get(col)) for col in columns)
        for row in rows[:max_rows]
    )
    if len(rows) > max_rows:
        body += Markup('<tr><td colspan="%s" class="text-muted">%s</td></tr>') % (
            len(columns),
            more_label % (len(rows) - max_rows),
        )
    return Markup(
        '<table class="table table-sm table-striped o_ai_json_table"><thead><tr>%s</tr></thead>'
        "<tbody>%s</tbody></table>"
    ) % (head, body)


def mapping_table(mapping, headers=None):
    """An HTML table of the scalar entries of a dict (key, value)."""
    rows = [{"key": k, "value": v} for k, v in (mapping or {}).items() if not isinstance(v, (list, dict))]
    return records_table(rows, ["key", "value"], headers or {"key": "", "value": ""})


def loads(text, default=None):
    try:
        return json.loads(text or "null") or default
    except ValueError:
        return default
