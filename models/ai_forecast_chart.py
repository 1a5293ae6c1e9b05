import io
import json
import logging
import re

from odoo import _, api, models
from odoo.exceptions import AccessError, MissingError, UserError


_logger = logging.getLogger(__name__)

#: Days of history sent to the chart by default (the newest ones).
DEFAULT_HISTORY_DAYS = 365
#: Most series keys listed for the picker; the browser filters them as the user types.
MAX_SERIES_LISTED = 20000


class AiForecastChart(models.AbstractModel):
    """Data behind the forecast chart widget, in one call.

    ``get_chart_data`` reads everything with the caller's rights: the record
    asked for, its dataset (history), its stored predictions or its signed
    artifact (forecast) and its metric lines (backtest error by horizon). A
    record the caller cannot read answers exactly like a record that does not
    exist, so the chart never tells another company's ids from missing ones.
    """

    _name = "ai.forecast.chart"
    _description = "AI Forecast Chart Data"

    @api.model
    def _chart_models(self):
        """Models the chart can be asked about."""
        names = ["ai.model.version"]
        if "ai.forecast.target" in self.env:
            names.append("ai.forecast.target")
        return names

    @api.model
    def get_chart_data(self, res_model, res_id, series_key=None, limit_history=DEFAULT_HISTORY_DAYS):
        """Return the chart of one series of ``res_model``/``res_id``.

        ``series_key`` is a series' ``unique_id`` (the key values joined by
        ``" | "``); empty picks the series with the largest volume. Returns a
        dict of plain JSON values: ``series`` (every key, for the picker),
        ``series_key``, ``history``, ``forecast``, ``actuals``, ``anomalies``
        (lists of points), ``metrics`` (backtest error by horizon bucket and
        candidate, for this series and averaged over all; by day ``1..h``
        too when the artifact keeps it) and ``messages``
        (what could not be shown, in the user's language).
        """
        record = self._chart_record(res_model, res_id)
        try:
            limit_history = max(1, min(int(limit_history or DEFAULT_HISTORY_DAYS), 20000))
        except (TypeError, ValueError):
            limit_history = DEFAULT_HISTORY_DAYS
        if record._name == "ai.forecast.target":
            version, predictions_domain = self._target_scope(record)
        else:
            version = record
            predictions_domain = [("model_version_id", "=", record.id)] if self._has_predictions() else None
        messages = []
        series = self._series_list(version, predictions_domain)
        data = self._history_data(version, messages)
        if not series and data is not None:
            series = sorted(data[3])
        allowed = self._allowed_series(record, version)
        if allowed is not None:
            # A store-level User: only the series assigned to them, even those
            # listed from the artifact or the dataset rather than predictions.
            series = [key for key in series if key in allowed]
            if not series:
                messages.append(
                    _(
                        "No series of this forecast is assigned to you. An Analyst can assign series on the "
                        "forecast target's Store access tab."
                    )
                )
            if series_key and series_key not in series:
                raise UserError(_("The series %s is not part of this forecast.", series_key))
        if not series_key:
            volumes = data[3] if data is not None else {}
            if allowed is not None:
                volumes = {key: volume for key, volume in volumes.items() if key in series}
            series_key = max(volumes, key=volumes.get) if volumes else (series[0] if series else "")
        elif series and series_key not in series:
            raise UserError(_("The series %s is not part of this forecast.", series_key))
        history = self._history_points(data, series_key, limit_history)
        chosen = self._chosen_models(version)
        artifact = {}  # verified members, read once for the forecast and the error by day
        forecast, actuals, anomalies = self._forecast(
            version, predictions_domain, series_key, messages, artifact
        )
        metrics = self._metrics(version, series_key, chosen)
        self._add_error_by_day(metrics, version, series_key, allowed, artifact)
        return {
            "res_model": record._name,
            "res_id": record.id,
            "title": record.display_name,
            "version": {"id": version.id, "name": version.display_name} if version else False,
            "series": series[:MAX_SERIES_LISTED],
            "series_total": len(series),
            "series_key": series_key,
            "chosen_model": chosen.get(series_key, ""),
            "history": history,
            "forecast": forecast,
            "actuals": actuals,
            "anomalies": anomalies,
            "metrics": metrics,
            "messages": messages,
        }

    # ------------------------------------------------------------------ access

    @api.model
    def _chart_record(self, res_model, res_id):
        """The record asked for, readable by the caller, else ``MissingError``."""
        if res_model not in self._chart_models():
            raise UserError(_("There is no forecast chart for %s.", res_model))
        try:
            res_id = int(res_id)
        except (TypeError, ValueError):
            raise MissingError(_("This record does not exist or you cannot read it.")) from None
        record = self.env[res_model].browse(res_id)
        try:
            record.check_access_rights("read")
            if not record.exists():
                raise MissingError(_("This record does not exist or you cannot read it."))
            record.check_access_rule("read")
        except AccessError:
            raise MissingError(_("This record does not exist or you cannot read it.")) from None
        return record

    @api.model
    def _allowed_series(self, record, version):
        """Series keys the caller may see on this chart, ``None`` for all."""
        if "ai.series.assignment" not in self.env:
            return None
        target = record if record._name == "ai.forecast.target" else version["target_id"] if version else None
        return self.env["ai.series.assignment"]._allowed_series(target)

    @api.model
    def _has_predictions(self):
        return "ai.prediction" in self.env

    @api.model
    def _target_scope(self, target):
        """The version whose history and metrics a target's chart shows (its
        champion, else its newest version) and the target's served forecasts."""
        version = target["champion_id"] if "champion_id" in target._fields else self.env["ai.model.version"]
        if not version and "target_id" in self.env["ai.model.version"]._fields:
            version = self.env["ai.model.version"].search(
                [("target_id", "=", target.id), ("state", "!=", "archived")], order="id desc", limit=1
            )
        domain = None
        if self._has_predictions():
            domain = [("target_id", "=", target.id)]
            if "prediction_type" in self.env["ai.prediction"]._fields:
                domain.append(("prediction_type", "=", "forecast"))  # the champions' served forecasts
        return version, domain

    # ------------------------------------------------------------------ series

    @api.model
    def _chosen_models(self, version):
        try:
            chosen = json.loads(version.chosen_models_json or "{}") if version else {}
        except ValueError:
            chosen = {}
        return chosen if isinstance(chosen, dict) else {}

    @api.model
    def _series_list(self, version, predictions_domain):
        keys = set(self._chosen_models(version))
        if predictions_domain is not None:
            groups = self.env["ai.prediction"].read_group(predictions_domain, ["series_key"], ["series_key"])
            keys.update(group["series_key"] for group in groups if group["series_key"])
        return sorted(keys)

    # ------------------------------------------------------------------ history

    @api.model
    def _columns(self, version):
        """``(date, target, series columns)`` the version was trained with."""
        job = version.job_id
        dataset = version.dataset_id
        date_col = job.date_col or dataset.date_col or "date"
        target_col = job.target_col or dataset.target_col
        series_raw = job.series_cols if job else dataset.series_cols
        series_cols = [c.strip() for c in (series_raw or "").split(",") if c.strip()]
        return date_col, target_col, series_cols

    @api.model
    def _history_frame(self, version, columns, messages):
        """The training input of ``version`` restricted to ``columns``, read
        with the caller's rights (``None`` when it is gone)."""
        import pandas as pd

        dataset = version.dataset_id
        try:
            if dataset:
                frame = dataset._read_dataframe()
            elif version.job_id and version.job_id.input_type == "file":
                import tempfile
                from pathlib import Path

                with tempfile.TemporaryDirectory(prefix="ai_train_model_chart_") as tmp:
                    frame, _sha = version.job_id._read_input(Path(tmp))
            else:
                messages.append(_("The data this model was trained on is no longer available."))
                return None
        except UserError as exc:
            messages.append(str(exc.args[0]) if exc.args else str(exc))
            return None
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            messages.append(
                _("The training data lacks the column(s) %s: no history to show.", ", ".join(missing))
            )
            return None
        return pd.DataFrame(frame[columns])

    @api.model
    def _history_data(self, version, messages):
        """``(series keys, dates, values, {series: volume})`` per row of the
        training data, or ``None`` when there is none to show."""
        import pandas as pd

        if not version:
            return None
        date_col, target_col, series_cols = self._columns(version)
        if not target_col:
            messages.append(_("This model does not record its target column: no history to show."))
            return None
        frame = self._history_frame(version, [date_col, target_col, *series_cols], messages)
        if frame is None or not len(frame):
            return None
        from ..project.utils.datos import series_key  # pandas: only when used

        keys = series_key(frame, series_cols)
        values = pd.to_numeric(frame[target_col], errors="coerce")
        dates = pd.to_datetime(frame[date_col], errors="coerce")
        volumes = {str(k): float(v) for k, v in values.abs().groupby(keys).sum().items()}
        return keys, dates, values, volumes

    @api.model
    def _history_points(self, data, series_key, limit_history):
        """The newest ``limit_history`` daily totals of ``series_key``."""
        import pandas as pd

        if data is None or not series_key:
            return []
        keys, dates, values, _volumes = data
        mask = (keys == series_key) & dates.notna()
        daily = values[mask].groupby(dates[mask].dt.normalize()).sum(min_count=1).sort_index()
        # Days after the last observed one (future rows giving known-future values) are no history.
        last = daily.last_valid_index()
        daily = daily.loc[:last] if last is not None else daily
        daily = daily.iloc[-limit_history:]
        return [
            {"x": day.strftime("%Y-%m-%d"), "y": (None if pd.isna(value) else float(value))}
            for day, value in daily.items()
        ]

    # ------------------------------------------------------------------ forecast

    @api.model
    def _forecast(self, version, predictions_domain, series_key, messages, artifact=None):
        """``(forecast, actuals, anomalies)`` points: stored predictions when
        the model exists and holds rows for the series, else the artifact's
        ``forecast.csv``."""
        if predictions_domain is not None and series_key:
            points = self._forecast_from_predictions(predictions_domain, series_key)
            if points[0] or points[1]:
                return points
        if not version or not series_key:
            return [], [], []
        return self._forecast_from_artifact(version, series_key, messages, artifact), [], []

    @api.model
    def _forecast_from_predictions(self, domain, series_key):
        """Forecast points (for each date the latest issued forecast, i.e. the
        shortest horizon), actuals and anomalies from ``ai.prediction``."""
        predictions = self.env["ai.prediction"]
        fields_ = predictions._fields
        # A version's own rows: served forecasts (champion) or shadow ones (challenger).
        domain = [*domain, ("series_key", "=", series_key)]
        names = [
            f
            for f in (
                "date",
                "horizon",
                "yhat",
                "yhat_lower_80",
                "yhat_upper_80",
                "yhat_lower_95",
                "yhat_upper_95",
                "actual",
                "has_actual",
                "error",
                "is_anomaly",
                "anomaly_score",
            )
            if f in fields_
        ]
        rows = predictions.search_read(domain, names, order="date, horizon")
        best = {}
        for row in rows:
            day = str(row["date"])
            if day not in best or (row.get("horizon") or 0) < (best[day].get("horizon") or 0):
                best[day] = row
        forecast = []
        for day in sorted(best):
            row = best[day]
            forecast.append(
                {
                    "x": day,
                    "horizon": row.get("horizon") or 0,
                    "y": row.get("yhat"),
                    "lo80": row.get("yhat_lower_80"),
                    "hi80": row.get("yhat_upper_80"),
                    "lo95": row.get("yhat_lower_95"),
                    "hi95": row.get("yhat_upper_95"),
                }
            )
        arrived = {}
        flagged = {}
        for row in rows:
            day = str(row["date"])
            if self._actual_is_set(row):
                arrived.setdefault(day, row["actual"] or 0.0)
                if row.get("is_anomaly"):
                    flagged[day] = max(flagged.get(day, 0.0), row.get("anomaly_score") or 0.0)
        actuals = [{"x": day, "y": value} for day, value in sorted(arrived.items())]
        anomalies = [{"x": day, "y": arrived[day], "score": score} for day, score in sorted(flagged.items())]
        return forecast, actuals, anomalies

    @api.model
    def _actual_is_set(self, row):
        """Whether the actual of a prediction row has arrived. Odoo reads an
        empty float as 0.0: a zero counts only with an error computed against
        it, an anomaly flag or an explicit ``has_actual``."""
        if "has_actual" in row:
            return bool(row["has_actual"])
        return bool(row.get("actual") or row.get("error") or row.get("is_anomaly"))

    @api.model
    def _artifact_members(self, version, artifact, messages=None):
        """The verified members of ``version``'s artifact, memoised in the
        ``artifact`` dict of one chart call (``{}`` when it cannot be read)."""
        if artifact is None:
            artifact = {}
        if "members" not in artifact:
            try:
                artifact["members"] = version.verify_artifact()
                artifact["error"] = None
            except UserError as exc:
                artifact["members"] = {}
                artifact["error"] = str(exc.args[0]) if exc.args else str(exc)
        if artifact["error"] and messages is not None:
            messages.append(artifact["error"])
        return artifact["members"]

    @api.model
    def _forecast_from_artifact(self, version, series_key, messages, artifact=None):
        import pandas as pd

        members = self._artifact_members(version, artifact, messages)
        raw = members.get("forecast.csv")
        if not raw:
            return []
        frame = pd.read_csv(io.BytesIO(raw), dtype={"unique_id": str}, keep_default_na=False, na_values=[""])
        frame = frame[frame["unique_id"].astype(str) == series_key].sort_values("ds")
        columns = {
            "y": "yhat",
            "lo80": "yhat_lower_80" if "yhat_lower_80" in frame.columns else "yhat_lower",
            "hi80": "yhat_upper_80" if "yhat_upper_80" in frame.columns else "yhat_upper",
            "lo95": "yhat_lower_95",
            "hi95": "yhat_upper_95",
        }
        points = []
        for _index, row in frame.iterrows():
            point = {"x": str(row["ds"])[:10], "horizon": int(row["horizon"]) if "horizon" in row else 0}
            for key, column in columns.items():
                value = row[column] if column in frame.columns else None
                point[key] = None if value is None or pd.isna(value) else float(value)
            points.append(point)
        return points

    # ------------------------------------------------------------------ metrics

    @api.model
    def _bucket_key(self, bucket):
        """Sort buckets by day: D+1, D+7, D+28, then the averages (1-28)."""
        match = re.fullmatch(r"D\+(\d+)", bucket or "")
        if match:
            return (0, int(match.group(1)), bucket)
        match = re.fullmatch(r"(\d+)-(\d+)", bucket or "")
        if match:
            return (1, int(match.group(2)), bucket)
        return (2, 0, bucket or "")

    @api.model
    def _metrics(self, version, series_key, chosen):
        """Backtest error of every candidate by horizon bucket, for the series
        and averaged over all series, in the version's selection metric."""
        if not version:
            return {"metric": "", "buckets": [], "models": []}
        metric_model = self.env["ai.model.metric"]
        domain = [("version_id", "=", version.id), ("metric", "=", version.metric or "mase")]
        groups = metric_model.read_group(domain, ["value:avg"], ["model", "bucket"], lazy=False)
        overall = {}
        buckets = set()
        for group in groups:
            overall.setdefault(group["model"], {})[group["bucket"]] = group["value"]
            buckets.add(group["bucket"])
        series_values = {}
        if series_key:
            for line in metric_model.search_read(
                [*domain, ("unique_id", "=", series_key)], ["model", "bucket", "value"]
            ):
                series_values.setdefault(line["model"], {})[line["bucket"]] = line["value"]
                buckets.add(line["bucket"])
        counts = {}
        for model in chosen.values():
            counts[model] = counts.get(model, 0) + 1
        chosen_here = chosen.get(series_key)
        models_ = [
            {
                "model": model,
                "ensemble": "(" in model,
                "chosen": model == chosen_here,
                "chosen_count": counts.get(model, 0),
                "series": series_values.get(model, {}),
                "overall": overall.get(model, {}),
            }
            for model in sorted(set(overall) | set(series_values))
        ]
        models_.sort(key=lambda m: (not m["chosen"], -m["chosen_count"], m["model"]))
        labels = dict(self.env["ai.training.job"]._METRICS)
        return {
            "metric": labels.get(version.metric, version.metric or ""),
            "buckets": sorted(buckets, key=self._bucket_key),
            "models": models_,
        }

    @api.model
    def _add_error_by_day(self, metrics, version, series_key, allowed, artifact):
        """Add the backtest MASE per horizon day (``days``, and per model
        ``series_days`` / ``overall_days``) from the artifact's
        ``horizon_errors.csv``; ``days`` stays empty without it (older
        artifacts), and the chart draws the buckets instead.

        The mean of all series covers only the series the caller may see.
        """
        import pandas as pd

        metrics.update(days=[], days_metric="")
        if not version:
            return metrics
        raw = self._artifact_members(version, artifact).get("horizon_errors.csv")
        if not raw:
            return metrics
        try:
            frame = pd.read_csv(io.BytesIO(raw), dtype={"unique_id": str, "model": str})
            frame = frame[["unique_id", "model", "horizon", "mase"]]
            frame["horizon"] = pd.to_numeric(frame["horizon"], errors="coerce")
            frame["mase"] = pd.to_numeric(frame["mase"], errors="coerce")
        except (ValueError, KeyError, pd.errors.ParserError):
            _logger.warning("model version %s: unreadable horizon_errors.csv", version.id)
            return metrics
        frame = frame[frame["horizon"].notna() & (frame["horizon"] >= 1)]
        if allowed is not None:
            frame = frame[frame["unique_id"].isin(allowed)]
        if not len(frame):
            return metrics
        days = list(range(1, int(frame["horizon"].max()) + 1))

        def by_day(part):
            means = part.groupby(["model", "horizon"])["mase"].mean()
            return {
                model: [None if pd.isna(v) else float(v) for v in means[model].reindex(days).tolist()]
                for model in means.index.get_level_values(0).unique()
            }

        overall = by_day(frame)
        here = by_day(frame[frame["unique_id"] == series_key]) if series_key else {}
        known = {m["model"] for m in metrics["models"]}
        for name in sorted((set(overall) | set(here)) - known):
            metrics["models"].append(
                {"model": name, "ensemble": "(" in name, "chosen": False, "chosen_count": 0,
                 "series": {}, "overall": {}}
            )  # fmt: skip
        for model in metrics["models"]:
            model["series_days"] = here.get(model["model"], [])
            model["overall_days"] = overall.get(model["model"], [])
        labels = dict(self.env["ai.training.job"]._METRICS)
        metrics.update(days=days, days_metric=labels.get("mase", "MASE"))
        return metrics
