"""Standalone core of the ai_train_model addon.

Everything here is plain Python: it never imports ``odoo``. The Odoo models
read records, call these functions and write records back.
"""

__version__ = "17.0.1.0.0"
