# Odoo loads this package as ``odoo.addons.ai_train_model``. The standalone core in
# ``project/`` is also imported by pytest from the repository root, where Odoo is not
# installed: import the Odoo layer only when Odoo is the one loading the addon.
if __name__.startswith("odoo.addons."):
    import logging

    # Prophet logs "Importing plotly failed" at ERROR level when it is imported
    # without plotly (we never draw interactive plots): keep the server log clean.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)

    from . import controllers
    from . import models
    from . import wizards
