"""The model card of an artifact (``MODEL_CARD.md``): what was trained on what, how well, and its limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .utils.evaluacion import metrics_markdown

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["render_model_card"]


def render_model_card(metadata: Mapping[str, Any], metrics: pd.DataFrame | None = None) -> str:
    """A Markdown model card: what was trained on what, how well, and its limits."""
    data = metadata.get("data", {}) or {}
    chosen = metadata.get("chosen_models", metadata.get("chosen", {})) or {}
    levels = metadata.get("interval_levels", [])
    horizon = metadata.get("horizon", "?")
    lines = [
        "# Model card",
        "",
        f"- Created: {metadata.get('created_at', 'unknown')}",
        f"- Format version: {metadata.get('format_version', 'unknown')}",
        f"- Code version: {metadata.get('code_version', 'unknown')}",
        f"- Horizon: {horizon} days ahead (D+1 to D+{horizon})",
        f"- Interval levels: {', '.join(f'{lv}%' for lv in levels) or 'none'}",
        "",
        "## Training data",
        "",
        f"- Input SHA-256: `{data.get('sha256') or 'not recorded'}`",
        f"- Rows: {data.get('rows', 'unknown')}; series: {data.get('series', 'unknown')}",
        f"- Dates: {data.get('first_date', '?')} to {data.get('last_date', '?')}",
    ]
    policy = metadata.get("missing_policy") or metadata.get("policy")
    if isinstance(policy, Mapping) and policy.get("missing"):
        lines.append(f"- Missing-day policy: `{policy['missing']}`")
    if chosen:
        counts: dict[str, int] = {}
        for model in chosen.values() if isinstance(chosen, Mapping) else chosen:
            counts[str(model)] = counts.get(str(model), 0) + 1
        lines += ["", "## Chosen models", "", "| model | series |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in sorted(counts.items(), key=lambda kv: -kv[1])]
    if metrics is not None and len(metrics):
        table = metrics
        if {"bucket", "metric", "value"} <= set(metrics.columns):
            chosen_rows = metrics
            if "chosen" in metrics.columns:  # bool, or "True"/"False" text once read back from CSV
                chosen_rows = metrics[metrics["chosen"].astype(str).str.lower().isin(["true", "1"])]
            table = chosen_rows.pivot_table(
                index="bucket", columns="metric", values="value", aggfunc="mean"
            ).reset_index()
        lines += [
            "",
            "## Backtest accuracy (chosen models, mean over series)",
            "",
            metrics_markdown(table).rstrip(),
        ]
    lines += [
        "",
        "## Intended use and limits",
        "",
        "Daily forecasts of the series it was trained on, for planning. Intervals come from the model "
        "or from backtest residuals (conformal: errors of neighbouring horizons rescaled to each "
        "horizon, widened horizon by horizon when the backtest weeks were calmer than the "
        "series' history) and assume the future behaves like the backtest windows or that history. "
        "Retrain when the data changes regime (new channel, tracking change, store opening).",
        "",
        "## Verification",
        "",
        "`python -m project.model_artifact verify MODEL.zip` checks the HMAC-SHA256 signature over every "
        "member with the deployment's signing key; loading refuses an artifact that fails it.",
        "",
    ]
    return "\n".join(lines)
