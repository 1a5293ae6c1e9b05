#!/usr/bin/env bash
# Run the addon's Odoo test-suite against a throw-away PostgreSQL cluster on 127.0.0.1.
#
# Finds an installed Odoo 17 (ODOO_BIN, or odoo-bin on PATH, or /opt/odoo*/odoo-bin) and the
# Python that runs it (ODOO_PYTHON, or a venv beside odoo-bin, or python3). Exit status:
#   0 tests ran and passed, 1 tests failed, 77 no Odoo 17 on this machine (caller prints SKIPPED).
# ODOO_TEST_TAGS narrows the run (e.g. /ai_train_model:TestJobLifecycle).
# With --probe it only tells whether an Odoo 17 is there (0) or not (77).
# Nothing is left running: the cluster is stopped and removed on exit.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

find_odoo() {
    if [ -n "${ODOO_BIN:-}" ] && [ -f "$ODOO_BIN" ]; then echo "$ODOO_BIN"; return; fi
    if command -v odoo-bin >/dev/null 2>&1; then command -v odoo-bin; return; fi
    for candidate in /opt/odoo*/odoo-bin /opt/odoo*/odoo/odoo-bin /usr/lib/python3/dist-packages/odoo-bin; do
        [ -f "$candidate" ] && { echo "$candidate"; return; }
    done
}

odoo_bin=$(find_odoo)
[ -n "$odoo_bin" ] || exit 77
odoo_root=$(dirname "$odoo_bin")
source "$repo/.ci/odoo_env.sh"
python=$(odoo_python "$odoo_root")
version=$(cd "$odoo_root" && "$python" -c 'import odoo.release as r; print(r.version_info[0])' 2>/dev/null)
[ "$version" = "17" ] || exit 77
[ "${1:-}" = "--probe" ] && exit 0

echo "Odoo 17 found at $odoo_root (python: $python)"
echo "Installing the addon's requirements beside Odoo's pins"
constraints=$(mktemp)
"$python" -m pip freeze | grep -v -e '^-e' -e '^python-dateutil=' >"$constraints"
"$python" -m pip install -q -c "$constraints" -r "$repo/requirements.txt" || exit 1
# Our requirements and their dependency tree only: `pip check` over the whole
# environment also judges Odoo's own setup.py metadata, which fails where Odoo
# was installed with pip, for reasons unrelated to this addon.
"$python" "$repo/.ci/check_requirements.py" "$repo/requirements.txt" || exit 1

source "$repo/.ci/pg.sh"
cleanup() {
    pg_stop
    rm -rf "$constraints"
}
trap cleanup EXIT
pg_start || exit 1

# Odoo wants the addon folder named after the module.
mkdir -p "$work/addons"
ln -s "$repo" "$work/addons/ai_train_model"
log="$work/odoo.log"
(cd "$odoo_root" && "$python" odoo-bin \
    --addons-path="$odoo_root/addons,$work/addons" \
    --db_host=127.0.0.1 --db_port="$port" --db_user=odoo -d ai_train_model_test \
    --http-interface=127.0.0.1 --http-port=$(( port + 1 )) \
    --data-dir="$work/filestore" --without-demo=all \
    -i ai_train_model --test-enable --test-tags="${ODOO_TEST_TAGS:-/ai_train_model}" \
    --stop-after-init --log-level=test) 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

errors=$(grep -cE ' (ERROR|CRITICAL) ' "$log")
result=$(grep -oE '[0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests' "$log" | tail -n 1)
read -r failures errors_count total <<<"$(echo "$result" | grep -oE '[0-9]+' | tr '\n' ' ')"
total=${total:-0}
bad=$(( ${failures:-0} + ${errors_count:-0} ))
echo "Odoo suite: exit $status, $errors ERROR/CRITICAL log lines"
echo "odoo: $(( total - bad )) passed, $bad failed"
if [ "$status" -ne 0 ] || [ "$errors" -ne 0 ] || [ "$bad" -ne 0 ]; then
    exit 1
fi
if [ "$total" -eq 0 ]; then
    echo "Odoo suite ran no test" >&2
    exit 1
fi
exit 0
