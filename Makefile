# Two commands for a fresh machine (see README.md).
.PHONY: demo test

# Prepare .venv, train on the embedded Wikipedia sample, print the metrics table and the zip path.
demo:
	bash .ci/venv.sh requirements.txt
	.venv/bin/python -m project.entrenar_modelo --demo --output out/demo_model.zip

# pytest (project/), pylint-odoo, ruff, and the Odoo 17 suite when Odoo 17 is installed.
test:
	bash .ci/test.sh
