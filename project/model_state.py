"""The plain-data form of a trained model (what ``model.joblib`` holds) and its rebuild by registry name.

A pickle names the module of every class it holds.  Were our own objects
pickled, ``model.joblib`` would freeze today's module paths into every
artifact: a zip trained inside Odoo (where this package is
``odoo.addons.ai_train_model.project``) would not load in the command line
(``project``), and renaming a module would break every old zip.  So our
wrappers are stored as *states*: dicts of registry names, constructor
parameters and fitted values (numpy arrays, pandas objects, numbers and the
libraries' own fitted objects -- statsmodels results, scikit-learn estimators,
Prophet models -- whose paths are theirs to keep).  :func:`to_state` refuses
any object of this package it has no state for, so a class path cannot slip
into an artifact unnoticed; :func:`from_state` rebuilds the objects under
whatever name the package is imported as.

A state is a dict with the key ``"__state__"`` naming its kind:

* ``"forecaster"``: ``name`` (a key of :data:`project.forecasting.models.MODELS`),
  ``params`` (constructor arguments), ``fitted`` (attributes ending in ``_``);
* ``"guarded"``: the parameters of :class:`~project.forecasting.guard.GuardedModel`
  and its fitted candidate, fallback and reason;
* ``"yearly"``: the wrapped forecaster's state, the order and the fitted
  values of :class:`~project.forecasting.yearly.YearlyAdjusted`;
* ``"series_result"``: the fields of :class:`~project.utils.selection.SeriesResult`;
* ``"train_config"``: the fields of :class:`~project.training.TrainConfig`.

Unknown fields of a stored state are ignored and missing ones take their
defaults, so a state written by an older version still loads.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["STATE_KEY", "to_state", "from_state"]

STATE_KEY = "__state__"
_PACKAGE = __name__.rpartition(".")[0]


def _is_ours(obj: Any) -> bool:
    module = getattr(type(obj), "__module__", "") or ""
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


def to_state(obj: Any) -> Any:
    """``obj`` with every object of this package replaced by its plain state (recursively).

    Dicts, lists and tuples are walked; everything else that is not ours is
    kept as is.  Raises ``TypeError`` for an object of this package without a
    registered state.
    """
    from .forecasting.base import BaseForecaster
    from .forecasting.guard import GuardedModel
    from .forecasting.yearly import YearlyAdjusted
    from .training import TrainConfig
    from .utils.selection import SeriesResult

    if isinstance(obj, dict):
        return {key: to_state(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [to_state(value) for value in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(to_state(value) for value in obj)
    if isinstance(obj, YearlyAdjusted):
        return _yearly_state(obj)
    if isinstance(obj, BaseForecaster):
        return _forecaster_state(obj)
    if isinstance(obj, GuardedModel):
        return _guarded_state(obj)
    if isinstance(obj, SeriesResult):
        return {STATE_KEY: "series_result", **_fields_state(obj)}
    if isinstance(obj, TrainConfig):
        return {STATE_KEY: "train_config", **obj.to_dict()}
    if _is_ours(obj):
        raise TypeError(
            f"{type(obj).__qualname__} has no plain-data state: it cannot be stored in a model artifact"
        )
    return obj


def from_state(obj: Any) -> Any:
    """Rebuild the objects of every state in ``obj`` (the inverse of :func:`to_state`)."""
    if isinstance(obj, dict):
        kind = obj.get(STATE_KEY)
        if kind is None:
            return {key: from_state(value) for key, value in obj.items()}
        try:
            rebuild = _REBUILD[kind]
        except KeyError:
            raise ValueError(f"unknown stored object kind {kind!r}") from None
        return rebuild(obj)
    if isinstance(obj, list):
        return [from_state(value) for value in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(from_state(value) for value in obj)
    return obj


# --------------------------------------------------------------------------- forecasters


def _fitted_values(model: Any) -> dict[str, Any]:
    """A model's fitted attributes (names ending in ``_``, scikit-learn's convention)."""
    return {key: value for key, value in vars(model).items() if key.endswith("_")}


def _forecaster_state(model: Any) -> dict[str, Any]:
    params = model.get_params()
    fitted = _fitted_values(model)
    other = set(vars(model)) - set(params) - set(fitted)
    if other:
        raise TypeError(f"{type(model).__name__} holds {sorted(other)}: neither parameters nor fitted values")
    return {STATE_KEY: "forecaster", "name": model.name, "params": params, "fitted": to_state(fitted)}


def _forecaster_from_state(state: dict[str, Any]) -> Any:
    import inspect

    from .forecasting.models import MODELS

    cls = MODELS[state["name"]]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    model = cls(**{key: value for key, value in state["params"].items() if key in accepted})
    vars(model).update(from_state(state["fitted"]))
    return model


def _yearly_state(model: Any) -> dict[str, Any]:
    return {
        STATE_KEY: "yearly",
        "params": {"model": to_state(model.model), "order": model.order},
        "fitted": to_state(_fitted_values(model)),
    }


def _yearly_from_state(state: dict[str, Any]) -> Any:
    from .forecasting.yearly import YearlyAdjusted

    model = YearlyAdjusted(**from_state(state["params"]))
    vars(model).update(from_state(state["fitted"]))
    return model


def _guarded_state(guarded: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        STATE_KEY: "guarded",
        "params": {
            "model": to_state(guarded.model),
            "fallback": guarded.fallback,
            "season_length": guarded.season_length,
            "explosion_factor": guarded.explosion_factor,
        },
    }
    if hasattr(guarded, "active_"):
        if guarded.active_ is guarded.fallback_model_:
            active: Any = "fallback"
        elif guarded.active_ is guarded.model:
            active = "model"
        else:
            active = to_state(guarded.active_)
        state["fitted"] = {
            "fallback_model_": to_state(guarded.fallback_model_),
            "y_max_abs_": guarded.y_max_abs_,
            "fallback_reason_": guarded.fallback_reason_,
            "active_": active,
        }
    return state


def _guarded_from_state(state: dict[str, Any]) -> Any:
    from .forecasting.guard import GuardedModel

    guarded = GuardedModel(**from_state(state["params"]))
    fitted = state.get("fitted")
    if fitted is not None:
        guarded.fallback_model_ = from_state(fitted["fallback_model_"])
        guarded.y_max_abs_ = fitted["y_max_abs_"]
        guarded.fallback_reason_ = fitted["fallback_reason_"]
        active = fitted["active_"]
        if isinstance(active, str) and active == "fallback":
            guarded.active_ = guarded.fallback_model_
        elif isinstance(active, str) and active == "model":
            guarded.active_ = guarded.model
        else:
            guarded.active_ = from_state(active)
    return guarded


# --------------------------------------------------------------------------- dataclasses


def _fields_state(obj: Any) -> dict[str, Any]:
    return {f.name: to_state(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _dataclass_from_state(cls: type, state: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{key: from_state(value) for key, value in state.items() if key in names})


def _series_result_from_state(state: dict[str, Any]) -> Any:
    from .utils.selection import SeriesResult

    return _dataclass_from_state(SeriesResult, state)


def _train_config_from_state(state: dict[str, Any]) -> Any:
    from .training import TrainConfig

    return _dataclass_from_state(TrainConfig, state)


_REBUILD = {
    "forecaster": _forecaster_from_state,
    "guarded": _guarded_from_state,
    "yearly": _yearly_from_state,
    "series_result": _series_result_from_state,
    "train_config": _train_config_from_state,
}
