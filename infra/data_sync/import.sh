#!/bin/sh
# import.sh fetch s3://BUCKET/PREFIX DIR | load DIR
#
# The receiving side of the weekly anonymised copy (README "Production data
# in staging"), run by the data-import CronJob in staging's cluster:
#
#   fetch  (aws-cli image) downloads the newest complete dump under PREFIX
#          (the newest one with a manifest.json) into DIR and checks every
#          file against its checksums.
#   load   (postgres image) replaces database $DBNAME's public schema with the
#          dump in one transaction, as role $ROLE: the tables, then their
#          rows, then indexes and constraints (so foreign keys are checked),
#          sequences past their column's maximum, row counts checked against
#          the manifest. A failure leaves the database as it was. Admin
#          credentials: the RDS master secret's JSON in $ADMIN_SECRET_FILE.
#          CREATE_DATABASE=1 creates $DBNAME first if it does not exist.
#          With APP_ROLE (and READONLY_ROLE, WANT_READONLY, READWRITE_ROLE,
#          WANT_READWRITE) the environment's database roles get their grants
#          back afterwards (access_roles.sql), not in a CREATE_DATABASE copy.
set -eu
SYNC_DIR="${SYNC_DIR:-/sync}"

die() {
    echo "import: $*" >&2
    exit 1
}

verify() {
    dir="$1"
    [ -f "$dir/manifest.json" ] || die "$dir has no manifest.json: not a complete dump"
    expected="$(sed -n 's/^ *"sha256sums": *"\([0-9a-f]*\)".*/\1/p' "$dir/manifest.json")"
    actual="$(cd "$dir" && sha256sum SHA256SUMS | cut -d ' ' -f 1)"
    if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
        die "$dir/SHA256SUMS does not match its manifest"
    fi
    (cd "$dir" && sha256sum -c SHA256SUMS > /dev/null) || die "a file in $dir does not match SHA256SUMS"
}

fetch() {
    source="${1%/}"
    dir="$2"
    case "$source" in
        s3://*/*) ;;
        *) die "source must be s3://<bucket>/<prefix>, got '$source'" ;;
    esac
    location="${source#s3://}"
    bucket="${location%%/*}"
    prefix="${location#*/}"
    # The bucket's region where it differs from this job's (DUMPS_REGION).
    if [ -n "${DUMPS_REGION:-}" ]; then set -- --region "$DUMPS_REGION"; else set --; fi
    keys="$(aws "$@" s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix/" \
        --query "Contents[?ends_with(Key, '/manifest.json')].Key" --output text)"
    # Tab-separated keys (or "None"); the createdAt prefixes sort by time.
    newest="$(printf '%s\n' "$keys" | tr '\t' '\n' | grep '/manifest\.json$' | sort | tail -n 1 || true)"
    [ -n "$newest" ] || die "no complete dump under $source yet (an export writes manifest.json last)"
    rm -rf "$dir"
    aws "$@" s3 cp "s3://$bucket/${newest%manifest.json}" "$dir" --recursive --only-show-errors
    verify "$dir"
    echo "import: fetched s3://$bucket/${newest%manifest.json}"
}

field() {
    sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$ADMIN_SECRET_FILE"
}

load() {
    dir="$1"
    verify "$dir"
    if [ -n "${ADMIN_SECRET_FILE:-}" ]; then
        PGUSER="$(field username)"
        PGPASSWORD="$(field password)"
        export PGUSER PGPASSWORD
        [ -n "$PGUSER" ] || die "no username in $ADMIN_SECRET_FILE"
    fi
    if [ -n "${CREATE_DATABASE:-}" ]; then
        # A database of its own for the dump as published (the previews copy it).
        # Closed to PUBLIC, as every stack's database is (infra/sql/create.sql).
        printf '%s\n' "SELECT format('CREATE DATABASE %I', :'dbname') WHERE NOT EXISTS \
            (SELECT FROM pg_database WHERE datname = :'dbname') \\gexec" \
            "SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'dbname') \\gexec" |
            psql -X -q -v ON_ERROR_STOP=1 -v dbname="$DBNAME" -d postgres
    fi
    cd "$dir"
    # The schema files run through psql: no meta-command but pg_dump's own
    # \restrict / \unrestrict may be in them (a \! would run in this pod).
    # (A line-leading check: a meta-command hidden mid-line after SQL is not
    # caught; the bucket admits only production's export job as a writer.)
    for file in pre-data.sql post-data.sql; do
        # shellcheck disable=SC1003 # a literal backslash, not an escaped quote
        if grep -n '^[[:space:]]*\\' "$file" | grep -v -E '^[0-9]+:\\(un)?restrict [A-Za-z0-9]+$' >&2; then
            die "$file holds psql meta-commands pg_dump never writes; not loading"
        fi
    done
    script="$(mktemp)"
    trap 'rm -f "$script"' EXIT
    for file in data/*.csv; do
        table="$(basename "$file" .csv)"
        columns="$(head -n 1 "$file")"
        case "$table$columns" in
            *[!a-z0-9_,]*) die "$file: unexpected table or column names; not loading" ;;
        esac
        # Quoted: a column may be named like a keyword ("order", "user").
        quoted="$(printf '%s' "$columns" | sed 's/[^,][^,]*/"&"/g')"
        printf '\\copy public."%s" (%s) FROM '"'%s'"' WITH (FORMAT csv, HEADER true)\n' \
            "$table" "$quoted" "$file"
    done > "$script"
    psql -X -q -v ON_ERROR_STOP=1 -d "$DBNAME" -v role="$ROLE" \
        -v load_script="$script" -f "$SYNC_DIR/import.sql"
    if [ -n "${APP_ROLE:-}" ] && [ -z "${CREATE_DATABASE:-}" ]; then
        # The schema was replaced, and its grants went with it: the
        # environment's database roles get them back, and the application
        # owns what was loaded (infra/sql/access_roles.sql, as its Job runs it).
        psql -X -q -v ON_ERROR_STOP=1 -d "$DBNAME" -v dbname="$DBNAME" -v owner="$ROLE" \
            -v app_role="$APP_ROLE" -v readonly_role="$READONLY_ROLE" \
            -v readonly="$WANT_READONLY" -v readwrite_role="$READWRITE_ROLE" \
            -v readwrite="$WANT_READWRITE" -f "$SYNC_DIR/access_roles.sql"
    fi
    echo "import: loaded $(sed -n 's/^ *"createdAt": *"\([^"]*\)".*/\1/p' manifest.json) into $DBNAME"
}

case "${1:-}" in
    fetch) [ $# -eq 3 ] || die "usage: import.sh fetch s3://BUCKET/PREFIX DIR"; fetch "$2" "$3" ;;
    load) [ $# -eq 2 ] || die "usage: import.sh load DIR"; load "$2" ;;
    *) die "usage: import.sh fetch s3://BUCKET/PREFIX DIR | load DIR" ;;
esac
