#!/usr/bin/env bash
# `make i18n`: regenerate i18n/ai_train_model.pot from a fresh install of the addon (Odoo's own term
# extractor: Python _(), XML views and data, JS _t) and merge the new terms into i18n/es.po with
# msgmerge; untranslated entries are then listed by `msgattrib --untranslated i18n/es.po`.
# ODOO_BIN: the odoo-bin of an Odoo 17 (ODOO_PYTHON: its Python when not a venv beside it).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
odoo_bin=${ODOO_BIN:?set ODOO_BIN to the odoo-bin of an Odoo 17}
odoo_root=$(cd "$(dirname "$odoo_bin")" && pwd)
source "$repo/.ci/odoo_env.sh"
python=$(odoo_python "$odoo_root")
source "$repo/.ci/pg.sh"
trap pg_stop EXIT
pg_start || exit 1
# A copy without the virtual environment, build outputs and git: Odoo's extractor reads every
# file under the module's folder, and .venv would bring third-party strings into the template.
mkdir -p "$work/addons/ai_train_model"
tar -C "$repo" --exclude=./.venv --exclude=./.git --exclude=./out -cf - . | tar -C "$work/addons/ai_train_model" -xf -
common=(--addons-path="$odoo_root/addons,$work/addons" --db_host=127.0.0.1 --db_port="$port" --db_user=odoo
        -d ai_train_model_i18n --data-dir="$work/filestore" --without-demo=all --stop-after-init --log-level=warn)
(cd "$odoo_root" && "$python" odoo-bin "${common[@]}" -i ai_train_model) || exit 1
(cd "$odoo_root" && "$python" odoo-bin "${common[@]}" --i18n-export="$work/ai_train_model.pot" \
    --modules=ai_train_model) 2>&1 | tee "$work/export.log"
[ "${PIPESTATUS[0]}" = 0 ] || exit 1
# A file the extractor cannot read loses all its terms without failing the export: fail here.
if grep -q "Failed to extract terms" "$work/export.log"; then
    echo "the translation extractor skipped a file (see above): its strings are not in the template" >&2
    exit 1
fi
cp "$work/ai_train_model.pot" "$repo/i18n/ai_train_model.pot"
msgmerge --quiet --no-fuzzy-matching --update --backup=none "$repo/i18n/es.po" "$repo/i18n/ai_train_model.pot" || exit 1
msgfmt --check --output-file=/dev/null "$repo/i18n/es.po" || exit 1
echo "untranslated in es.po: $(msgattrib --untranslated --no-obsolete "$repo/i18n/es.po" | grep -c '^msgid ' )"
