#!/usr/bin/env bash
# The project's test command (README: `make test`): pytest for project/, pylint-odoo with the
# OCA mandatory checks, and the Odoo suite when an Odoo 17 is installed on this machine.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1

bash .ci/venv.sh requirements-dev.txt || { echo "could not prepare .venv" >&2; exit 1; }
py=.venv/bin/python
failed=0

echo "== pytest (project/)"
"$py" -m pytest project/tests -q -p no:cacheprovider
rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no test" >&2; failed=1; fi
[ "$rc" -eq 0 ] || failed=1

echo "== pylint-odoo (OCA mandatory checks)"
"$py" -m pylint --rcfile=.pylintrc-mandatory --recursive=y __init__.py __manifest__.py models controllers wizards tests migrations || failed=1

echo "== ruff (project/, bench/)"
"$py" -m ruff check project bench || failed=1

echo "== Odoo 17 suite"
if [ -z "$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null)" ] && bash .ci/odoo_tests.sh --probe >/dev/null 2>&1; then
    echo "Installing PostgreSQL for the Odoo suite"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null || failed=1
fi
bash .ci/odoo_tests.sh
rc=$?
if [ "$rc" -eq 77 ]; then
    echo "################################################################"
    echo "### SKIPPED: Odoo suite — no Odoo 17 installed on this machine ###"
    echo "### (set ODOO_BIN=/path/to/odoo-bin to run it)                ###"
    echo "################################################################"
elif [ "$rc" -ne 0 ]; then
    failed=1
fi

if [ "$failed" -ne 0 ]; then echo "TESTS FAILED"; exit 1; fi
echo "ALL CHECKS PASSED"
