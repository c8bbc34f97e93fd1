#!/bin/sh
# run.sh create|reset|drop|export-role|access-roles: the stack's database work, run by a Kubernetes Job
# or CronJob inside the cluster (the only place that reaches the database).
#
# The RDS master credentials arrive as the JSON of the `database-master` secret in
# $ADMIN_SECRET_FILE (fetched by the pod's init container through IRSA).
# Connection: PGHOST, PGPORT, PGSSLMODE. Names: DBNAME, ROLE; ROLE_PASSWORD
# for create (and SEED_FROM_DATABASE to start from that database's copy
# instead of the seed data). SQL files in $SQL_DIR.
set -eu
SQL_DIR="${SQL_DIR:-/sql}"
ADMIN_SECRET_FILE="${ADMIN_SECRET_FILE:-/work/admin.json}"

# The secret is flat JSON of strings; RDS-generated passwords contain no
# double quote or backslash, so a sed match of "key":"value" is exact.
field() {
    sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$ADMIN_SECRET_FILE"
}
PGUSER="$(field username)"
PGPASSWORD="$(field password)"
export PGUSER PGPASSWORD
if [ -z "$PGUSER" ]; then
    echo "run.sh: no username in $ADMIN_SECRET_FILE" >&2
    exit 1
fi

run_psql() {
    psql -X -q -v ON_ERROR_STOP=1 -v dbname="$DBNAME" -v role="$ROLE" "$@"
}

case "${1:-}" in
    create)
        run_psql -v password="$ROLE_PASSWORD" -d postgres -f "$SQL_DIR/create.sql"
        # Seed only a database that has nothing in it yet: re-running the Job
        # (a changed spec) must never wipe a preview's data.
        tables="$(psql -X -At -d "$DBNAME" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"
        if [ "$tables" = "0" ] && [ -n "${SEED_FROM_DATABASE:-}" ]; then
            # initialData: anonymised: the shared stack's copy of production's
            # weekly anonymised dump, as its import loaded it.
            copy="${WORK_DIR:-/work}/initial-data.sql"
            pg_dump --schema=public --no-owner --no-privileges -d "$SEED_FROM_DATABASE" -f "$copy"
            run_psql -d "$DBNAME" -v dump="$copy" -f "$SQL_DIR/restore.sql"
            rm -f "$copy"
        elif [ "$tables" = "0" ]; then
            run_psql -d "$DBNAME" -f "$SQL_DIR/reset.sql" -f "$SQL_DIR/seed.sql"
        fi
        ;;
    reset)
        run_psql -d "$DBNAME" -f "$SQL_DIR/reset.sql" -f "$SQL_DIR/seed.sql"
        ;;
    drop)
        run_psql -d postgres -f "$SQL_DIR/drop.sql"
        ;;
    export-role)
        # The data export's read-only role (EXPORT_ROLE), reading ROLE's tables.
        run_psql -v export_role="$EXPORT_ROLE" -v owner="$ROLE" -v app_role="${APP_ROLE:-}" \
            -d "$DBNAME" -f "$SQL_DIR/export_role.sql"
        ;;
    access-roles)
        # The environment database's IAM-authenticated roles: APP_ROLE always,
        # READONLY_ROLE / READWRITE_ROLE where WANT_READONLY / WANT_READWRITE
        # are true (ROLE owns the database).
        run_psql -v owner="$ROLE" -v app_role="$APP_ROLE" \
            -v readonly_role="$READONLY_ROLE" -v readonly="$WANT_READONLY" \
            -v readwrite_role="$READWRITE_ROLE" -v readwrite="$WANT_READWRITE" \
            -d "$DBNAME" -f "$SQL_DIR/access_roles.sql"
        ;;
    *)
        echo "usage: run.sh create|reset|drop|export-role|access-roles" >&2
        exit 2
        ;;
esac
echo "run.sh: $1 of database $DBNAME (role $ROLE) done"
