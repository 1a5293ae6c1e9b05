"""Bridge between the Odoo models and the plain-Python core in ``project/``.

``project/`` is written to run on its own (``python -m project.<module>``
from the repository root), so its modules import each other as the top-level
package ``project``. Inside Odoo the addon folder is not on ``sys.path``;
:func:`core` registers ``project`` as a top-level package loaded from this
addon's folder (without putting the whole addon folder on ``sys.path``) and
returns the requested submodule. Heavy libraries stay lazily imported: nothing
here runs before a job or an action asks for it.
"""

import importlib
import importlib.util
import logging
import os
import sys
import threading

__all__ = ["ADDON_DIR", "core", "selection_label"]

ADDON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROJECT_DIR = os.path.join(ADDON_DIR, "project")
_LOCK = threading.Lock()

# Prophet logs "Importing plotly failed" at ERROR level when it is imported
# without plotly (we never draw interactive plots): keep the server log clean.
logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def _ensure_project_package():
    module = sys.modules.get("project")
    if module is not None:
        paths = [os.path.realpath(p) for p in getattr(module, "__path__", [])]
        if os.path.realpath(_PROJECT_DIR) not in paths:
            raise ImportError(
                "a different top-level package named 'project' is already imported "
                f"({getattr(module, '__file__', module)!r}); ai_train_model needs its own"
            )
        return module
    spec = importlib.util.spec_from_file_location(
        "project",
        os.path.join(_PROJECT_DIR, "__init__.py"),
        submodule_search_locations=[_PROJECT_DIR],
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["project"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("project", None)
        raise
    return module


def core(name):
    """Return the ``project.<name>`` module (``name`` like ``"errors"`` or
    ``"utils.datos"``), importing it on first use."""
    with _LOCK:
        _ensure_project_package()
    return importlib.import_module(f"project.{name}")


def selection_label(record, field_name):
    """The translated label of ``record``'s selection value, for messages
    shown to users (who should read "Running", not ``running``)."""
    value = record[field_name]
    labels = dict(record._fields[field_name]._description_selection(record.env))
    return labels.get(value, value or "")
