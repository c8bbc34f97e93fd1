#!/bin/sh
# export.sh dump DIR | publish DIR s3://BUCKET/PREFIX
#
# The production side of the weekly anonymised copy (README "Production data
# in staging"). Run by the data-export CronJob in production's cluster:
#
#   dump     (postgres image) checks the live schema against the rules, then
#            writes the schema and every table, masked inside the SELECT, with
#            row counts, checksums and manifest.json, into DIR. Connects with
#            PGHOST/PGPORT/PGUSER/PGDATABASE/PGSSLMODE and the password (an
#            IAM token) in $DB_PASSWORD_FILE; the mask key is $MASK_KEY_FILE.
#   publish  (aws-cli image) uploads DIR under PREFIX/<createdAt>/, the
#            manifest last: a dump without its manifest is not complete and
#            no import takes it.
#
# $SYNC_DIR holds export.sql and fingerprint.sql (generated from rules.yaml)
# and rules.yaml itself.
set -eu
SYNC_DIR="${SYNC_DIR:-/sync}"

die() {
    echo "export: $*" >&2
    exit 1
}

dump() {
    dir="$1"
    [ -r "${MASK_KEY_FILE:-}" ] || die "no mask key: set MASK_KEY_FILE to a readable file"
    mask_key="$(cat "$MASK_KEY_FILE")"
    key_bytes="$(printf %s "$mask_key" | wc -c | tr -d ' ')"
    if [ "$key_bytes" -lt 32 ] || [ "$key_bytes" -gt 64 ]; then
        die "the mask key in $MASK_KEY_FILE is $key_bytes bytes; it must be 32 to 64"
    fi
    case "$mask_key" in
        *[!A-Za-z0-9]*) die "the mask key in $MASK_KEY_FILE must be letters and digits only" ;;
    esac
    if [ -n "${DB_PASSWORD_FILE:-}" ]; then
        PGPASSWORD="$(cat "$DB_PASSWORD_FILE")"
        export PGPASSWORD
    fi
    rm -rf "$dir"
    mkdir -p "$dir/data"
    cd "$dir"

    # The schema is dumped outside the data's snapshot: its fingerprint before
    # and inside the snapshot must agree, or a migration ran in between.
    before="$(psql -X -At -v ON_ERROR_STOP=1 -f "$SYNC_DIR/fingerprint.sql")"
    for section in pre-data post-data; do
        pg_dump --schema-only --schema=public --no-owner --no-privileges \
            --section="$section" --file="$section.sql"
    done
    # The key reaches the server as a startup option of this one session (see
    # export.sql), never as statement text a log could keep.
    PGOPTIONS="-c stagecraft.mask_key=$mask_key" psql -X -q -f "$SYNC_DIR/export.sql"
    inside="$(cat schema.sha256)"
    rm -f schema.sha256
    if [ "$before" != "$inside" ]; then
        rm -rf "${dir:?}"/*
        die "the schema changed during the export (a migration?); nothing written, run again"
    fi

    sha256sum pre-data.sql post-data.sql rows.json data/*.csv > SHA256SUMS
    sums="$(sha256sum SHA256SUMS | cut -d ' ' -f 1)"
    rules="$(sha256sum "$SYNC_DIR/rules.yaml" | cut -d ' ' -f 1)"
    created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    # One key per line: import.sh reads it with sed, the images have no jq.
    {
        echo "{"
        echo "  \"format\": 1,"
        echo "  \"createdAt\": \"$created\","
        echo "  \"source\": \"${SOURCE_ENVIRONMENT:-unknown}\","
        echo "  \"rulesSha256\": \"$rules\","
        echo "  \"schemaSha256\": \"$inside\","
        echo "  \"sha256sums\": \"$sums\","
        echo "  \"rows\": $(cat rows.json)"
        echo "}"
    } > manifest.json
    echo "export: dumped into $dir (rows: $(cat rows.json))"
}

publish() {
    dir="$1"
    destination="${2%/}"
    case "$destination" in
        s3://*/*) ;;
        *) die "destination must be s3://<bucket>/<prefix>, got '$destination'" ;;
    esac
    [ -f "$dir/manifest.json" ] || die "$dir has no manifest.json: run 'export.sh dump' first"
    (cd "$dir" && sha256sum -c SHA256SUMS > /dev/null) || die "files in $dir changed since the dump"
    created="$(sed -n 's/^ *"createdAt": *"\([^"]*\)".*/\1/p' "$dir/manifest.json" | tr -d ':')"
    [ -n "$created" ] || die "$dir/manifest.json has no createdAt"
    target="$destination/$created"
    aws s3 cp "$dir" "$target/" --recursive --exclude manifest.json --only-show-errors
    aws s3 cp "$dir/manifest.json" "$target/manifest.json" --only-show-errors
    echo "export: published $target/"
}

case "${1:-}" in
    dump) [ $# -eq 2 ] || die "usage: export.sh dump DIR"; dump "$2" ;;
    publish) [ $# -eq 3 ] || die "usage: export.sh publish DIR s3://BUCKET/PREFIX"; publish "$2" "$3" ;;
    *) die "usage: export.sh dump DIR | publish DIR s3://BUCKET/PREFIX" ;;
esac
