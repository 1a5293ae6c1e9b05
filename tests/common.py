"""Small builders shared by the Odoo tests."""

import json
import os
import tempfile
from types import SimpleNamespace

from odoo.modules import get_module_path
from odoo.tests.common import new_test_user

from ..project import model_artifact

SAMPLE_CSV = os.path.join(get_module_path("ai_train_model"), "project", "data", "wikipedia_pageviews_daily.csv")


def sample_frame(n_series=2, days=150):
    """The last ``days`` days of the first ``n_series`` pages of the sample."""
    import pandas as pd

    frame = pd.read_csv(SAMPLE_CSV)
    pages = sorted(frame["page"].unique())[:n_series]
    frame = frame[frame["page"].isin(pages)].copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame[frame["date"] > frame["date"].max() - pd.Timedelta(days=days)]
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    return frame.reset_index(drop=True)


def make_dataset(env, frame=None, name="Pageviews", company=None, **values):
    dataset = env["ai.dataset"].create(
        {
            "name": name,
            "date_col": "date",
            "target_col": "pageviews",
            "series_cols": "page",
            **({"company_id": company.id} if company else {}),
            **values,
        }
    )
    dataset._store_dataframe(sample_frame() if frame is None else frame)
    return dataset


def make_users(env, company, other_company):
    """User / analyst / manager of ``company``, a user of ``other_company``
    only and an internal user without any AI group. Password = login."""
    common = {"company_id": company.id, "company_ids": [(6, 0, company.ids)]}
    return SimpleNamespace(
        user=new_test_user(env, "ai_reader", groups="base.group_user,ai_train_model.group_ai_user", **common),
        analyst=new_test_user(env, "ai_analyst", groups="base.group_user,ai_train_model.group_ai_analyst", **common),
        manager=new_test_user(env, "ai_manager", groups="base.group_user,ai_train_model.group_ai_manager", **common),
        plain=new_test_user(env, "ai_plain", groups="base.group_user", **common),
        foreign=new_test_user(
            env,
            "ai_foreign",
            groups="base.group_user,ai_train_model.group_ai_manager",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        ),
    )


def handmade_version(env, job, n_series=2, name=None):
    """A model version built without training: a real signed artifact around
    a trivial model, plus a metrics frame like the core's. For tests of what
    surrounds training (download, security, bulk lines)."""
    import pandas as pd

    series = [f"series {i}" for i in range(n_series)]
    metrics = pd.DataFrame(
        [
            {"unique_id": uid, "model": model, "bucket": bucket, "metric": "mase", "value": value, "chosen": model == "snaive"}
            for uid in series
            for model, value in (("naive", 1.2), ("snaive", 0.9))
            for bucket in ("D+1", "D+7", "1-28")
        ]
    )
    forecast = pd.DataFrame({"unique_id": series, "ds": ["2016-01-01"] * n_series, "horizon": 1, "yhat": 1.0})
    metadata = {"horizon": job.horizon, "chosen": {uid: "snaive" for uid in series}}
    key = env["ai.model.version"]._get_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        path = model_artifact.build_artifact(
            os.path.join(tmp, "model.zip"),
            model={"kind": "handmade"},
            metadata=metadata,
            forecast=forecast,
            metrics=metrics,
            signing_key=key,
        )
        artifact = path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read()
    summary = SimpleNamespace(
        metadata=json.loads(json.dumps(metadata)),
        metrics=metrics,
        forecast=forecast,
        series=pd.DataFrame({"unique_id": series, "model": ["snaive"] * n_series}),
    )
    if name:
        job.model_name = name
    return env["ai.model.version"]._create_from_training(job, summary, artifact)
