#!/usr/bin/env bash
# `make odoo-demo`: a database with ai_train_model and its demo data, served on 127.0.0.1.
#
# ODOO_BIN        your Odoo 17 odoo-bin (required); ODOO_PYTHON its Python when that is not a
#                 venv beside odoo-bin (venv/, .venv/) or python3.
# ODOO_DEMO_DB    the database (default ai_train_model_demo), created with the addon and its demo data.
# ODOO_DEMO_PORT  the HTTP port on 127.0.0.1 (default 8069).
# PostgreSQL: a throw-away cluster (.ci/pg.sh, removed when the server stops) unless ODOO_DB_HOST
# is set; then ODOO_DB_PORT (5432), ODOO_DB_USER and ODOO_DB_PASSWORD name an existing server.
# With --check it stops after one request to the login page (exit 0 when it answered).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
odoo_bin=${ODOO_BIN:-}
if [ -z "$odoo_bin" ] || [ ! -f "$odoo_bin" ]; then
    echo "Set ODOO_BIN to the odoo-bin of your Odoo 17, e.g. ODOO_BIN=/opt/odoo17/odoo-bin make odoo-demo" >&2
    exit 2
fi
odoo_root=$(cd "$(dirname "$odoo_bin")" && pwd)
source "$repo/.ci/odoo_env.sh"
python=$(odoo_python "$odoo_root")
version=$(cd "$odoo_root" && "$python" -c 'import odoo.release as r; print(r.version_info[0])' 2>/dev/null)
if [ "$version" != "17" ]; then
    echo "$odoo_bin is not an Odoo 17 run by $python (set ODOO_PYTHON to the Python that runs it)" >&2
    exit 2
fi
missing=$("$python" - "$repo/__manifest__.py" <<'PY'
import ast, importlib.metadata, sys
deps = ast.literal_eval(open(sys.argv[1]).read())["external_dependencies"]["python"]
missing = []
for name in deps:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        missing.append(name)
print(" ".join(missing))
PY
)
if [ -n "$missing" ]; then
    echo "Odoo's Python lacks: $missing. Install the addon's requirements beside Odoo's pins:" >&2
    echo "  $python -m pip install -r $repo/requirements.txt" >&2
    exit 2
fi

db=${ODOO_DEMO_DB:-ai_train_model_demo}
http_port=${ODOO_DEMO_PORT:-8069}
server_pid=
source "$repo/.ci/pg.sh"
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    pg_stop
    rm -rf "${scratch:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scratch=$(mktemp -d)
if [ -n "${ODOO_DB_HOST:-}" ]; then
    db_args=(--db_host="$ODOO_DB_HOST" --db_port="${ODOO_DB_PORT:-5432}")
    [ -n "${ODOO_DB_USER:-}" ] && db_args+=(--db_user="$ODOO_DB_USER")
    [ -n "${ODOO_DB_PASSWORD:-}" ] && db_args+=(--db_password="$ODOO_DB_PASSWORD")
    data_dir=${ODOO_DATA_DIR:-$scratch/filestore}
else
    echo "Starting a throw-away PostgreSQL on 127.0.0.1"
    pg_start || exit 1
    db_args=(--db_host=127.0.0.1 --db_port="$port" --db_user=odoo)
    data_dir=$work/filestore
fi
# Odoo wants the addon folder named after the module; an empty config file keeps ~/.odoorc out.
mkdir -p "$scratch/addons"
ln -s "$repo" "$scratch/addons/ai_train_model"
: >"$scratch/odoo.conf"
odoo=("$python" odoo-bin -c "$scratch/odoo.conf" --addons-path="$odoo_root/addons,$scratch/addons"
      "${db_args[@]}" --data-dir="$data_dir" -d "$db" --db-filter="^${db}\$")

echo "Creating database $db with ai_train_model and its demo data (a few minutes)"
(cd "$odoo_root" && "${odoo[@]}" -i ai_train_model --stop-after-init --log-level=warn) 2>&1 | tee "$scratch/install.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
if grep -q "ai_train_model demo data failed to install" "$scratch/install.log"; then
    echo "The demo data of ai_train_model failed to install (see the warning above)" >&2
    exit 1
fi

(cd "$odoo_root" && exec "${odoo[@]}" --http-interface=127.0.0.1 --http-port="$http_port" --log-level=warn) &
server_pid=$!
url="http://127.0.0.1:$http_port/web/login?db=$db"
for _ in $(seq 120); do
    "$python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$url" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || { echo "Odoo stopped; see its messages above" >&2; exit 1; }
    sleep 1
done
echo
echo "  ai_train_model demo: $url"
echo "  login: admin   password: admin   (AI Forecasting app, target \"Wikipedia Pageviews\")"
echo
if [ "${1:-}" = "--check" ]; then
    "$python" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=30).status != 200)" "$url"
    exit $?
fi
echo "  Ctrl+C stops the server${ODOO_DB_HOST:+ (the database stays on $ODOO_DB_HOST)}."
wait "$server_pid"
