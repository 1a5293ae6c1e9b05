# Two commands for a fresh machine (see README.md).
.PHONY: demo odoo-demo test i18n

# Prepare .venv, train on the embedded Wikipedia sample, print the metrics table and the zip path.
demo:
	bash .ci/venv.sh requirements.txt
	.venv/bin/python -m project.entrenar_modelo --demo --output out/demo_model.zip

# With ODOO_BIN set to an Odoo 17 odoo-bin: a database with the addon and its demo data, served on
# 127.0.0.1 (prints the URL and the login; see .ci/odoo_demo.sh for the PostgreSQL options).
odoo-demo:
	bash .ci/odoo_demo.sh

# pytest (project/), pylint-odoo, ruff, and the Odoo 17 suite when Odoo 17 is installed.
test:
	bash .ci/test.sh

# With ODOO_BIN set: regenerate i18n/ai_train_model.pot and merge new terms into i18n/es.po.
i18n:
	bash .ci/i18n.sh
