# Throw-away PostgreSQL cluster on 127.0.0.1, for scripts that source this file
# (.ci/odoo_tests.sh, .ci/odoo_demo.sh).
#
#   source .ci/pg.sh
#   pg_start || exit 1     # sets work (a fresh temp folder), port (PostgreSQL's), pg_bin
#   ...                    # connect with --db_host=127.0.0.1 --db_port="$port" --db_user=odoo
#   pg_stop                # stop the cluster and remove $work (call it from an EXIT trap)

pg_start() {
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$pg_bin" ]; then
        echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
        return 1
    fi
    work=$(mktemp -d)
    chmod 755 "$work"
    pgdata="$work/pgdata"
    port=$(( 20000 + RANDOM % 20000 ))
    as_pg=()
    if [ "$(id -u)" = "0" ]; then
        chown postgres "$work"
        as_pg=(runuser -u postgres --)
    fi
    "${as_pg[@]}" "$pg_bin/initdb" -D "$pgdata" -U odoo --auth=trust -E UTF8 >/dev/null || return 1
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -l "$work/pg.log" -w \
        -o "-h 127.0.0.1 -p $port -k $work" start >/dev/null || { cat "$work/pg.log"; return 1; }
}

pg_stop() {
    [ -n "${work:-}" ] || return 0
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1
    rm -rf "$work"
}
