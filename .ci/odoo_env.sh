# Sourced by the scripts that run Odoo (.ci/odoo_tests.sh, .ci/odoo_demo.sh, .ci/i18n.sh).
#
#   odoo_python ROOT   the Python that runs the Odoo source tree ROOT: ODOO_PYTHON when set,
#                      else a venv beside odoo-bin (venv/, .venv/), else python3.
odoo_python() {
    if [ -n "${ODOO_PYTHON:-}" ]; then echo "$ODOO_PYTHON"; return; fi
    local candidate
    for candidate in "$1/venv/bin/python" "$1/.venv/bin/python" python3; do
        if command -v "$candidate" >/dev/null 2>&1; then echo "$candidate"; return; fi
    done
}
