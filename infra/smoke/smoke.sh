#!/bin/sh
# The post-deploy smoke test: what the application needs, tried from inside
# the cluster with the application's own credentials. One check per
# container of the `smoke-test` pod (infra/components/smoke_test.py):
#
#   smoke.sh ca-bundle  init container (Amazon Linux, curl): the RDS CA bundle
#   smoke.sh db-token   init container (AWS CLI): an IAM auth token for the
#                       application's database user (both into the pod's
#                       in-memory volume; `smoke.sh prepare` runs the two)
#   smoke.sh database   psql, sslmode=verify-full, as that user with the token
#   smoke.sh cache      redis-cli --tls, PING as the application's Redis user
#   smoke.sh health     HTTPS GET of the public health endpoint, 2xx expected
#
# Each check prints exactly one line, `PASS|FAIL|SKIP <check>: <what>`, and
# exits non-zero on FAIL, which fails the pod and so the Job. No secret is
# ever printed or put on a command line: the Redis password reaches
# redis-cli as REDISCLI_AUTH, the token psql as PGPASSWORD, both from the
# environment.
set -u
umask 077

WORK=${SMOKE_WORK:-/work}
TOKEN="$WORK/db-token"
CA_BUNDLE="$WORK/rds-ca.pem"
PREPARE_FAILED="$WORK/prepare-failed"

say() {
    printf '%s %s: %s\n' "$1" "$2" "$3"
}

# The first line of a tool's error output, as one short phrase.
first_line() {
    sed -n '/./{s/^[[:space:]]*//;p;q;}' "$1" | cut -c1-300
}

# The two preparations never fail the pod themselves: the database check
# reports why it could not run, and the cache and health checks still run.
ca_bundle() {
    rm -f "$PREPARE_FAILED"
    if ! curl --silent --show-error --fail --proto =https --max-time 30 \
        --output "$CA_BUNDLE" "$RDS_CA_BUNDLE_URL" 2>"$WORK/prepare.err"; then
        echo "cannot fetch the RDS CA bundle $RDS_CA_BUNDLE_URL ($(first_line "$WORK/prepare.err"))" >"$PREPARE_FAILED"
    elif ! grep -q 'BEGIN CERTIFICATE' "$CA_BUNDLE"; then
        echo "$RDS_CA_BUNDLE_URL returned no PEM certificates" >"$PREPARE_FAILED"
    fi
    return 0
}

db_token() {
    [ -f "$PREPARE_FAILED" ] && return 0
    # Signed locally with the pod's IRSA credentials: it fails here when the
    # ServiceAccount cannot assume its role.
    if ! aws rds generate-db-auth-token --hostname "$DATABASE_HOST" --port "$DATABASE_PORT" \
        --username "$DATABASE_USER" --region "$AWS_REGION" >"$TOKEN" 2>"$WORK/prepare.err"; then
        echo "no IAM auth token for $DATABASE_USER ($(first_line "$WORK/prepare.err"))" >"$PREPARE_FAILED"
        rm -f "$TOKEN"
    fi
    return 0
}

database() {
    what="$DATABASE_USER@$DATABASE_HOST:$DATABASE_PORT/$DATABASE_NAME"
    if [ -f "$PREPARE_FAILED" ]; then
        say FAIL database "$what: $(cat "$PREPARE_FAILED")"
        return 1
    fi
    if [ "${DATABASE_SSLMODE:-}" != "verify-full" ]; then
        say FAIL database "$what: the application's DATABASE_SSLMODE is '${DATABASE_SSLMODE:-}', not verify-full"
        return 1
    fi
    PGPASSWORD=$(cat "$TOKEN") || PGPASSWORD=
    PGHOST=$DATABASE_HOST PGPORT=$DATABASE_PORT PGDATABASE=$DATABASE_NAME PGUSER=$DATABASE_USER
    PGSSLMODE=verify-full PGSSLROOTCERT=$CA_BUNDLE PGCONNECT_TIMEOUT=10 PGAPPNAME=smoke-test
    export PGPASSWORD PGHOST PGPORT PGDATABASE PGUSER PGSSLMODE PGSSLROOTCERT PGCONNECT_TIMEOUT PGAPPNAME
    if ! out=$(psql -X -w -A -t -q -v ON_ERROR_STOP=1 -c \
        "SELECT 1, current_user, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" \
        2>"$WORK/database.err"); then
        say FAIL database "$what: $(first_line "$WORK/database.err")"
        return 1
    fi
    case $out in
        "1|$DATABASE_USER|t|"*)
            say PASS database "$what: SELECT 1 over ${out##*|}, server certificate verified (verify-full)"
            ;;
        *)
            say FAIL database "$what: unexpected answer '$out' (want 1|$DATABASE_USER|t|<TLS version>)"
            return 1
            ;;
    esac
}

cache() {
    what="$REDIS_USERNAME@$REDIS_HOST:$REDIS_PORT"
    if [ "${REDIS_TLS:-}" != "true" ]; then
        say FAIL cache "$what: the application's REDIS_TLS is '${REDIS_TLS:-}', not true"
        return 1
    fi
    if [ -z "${REDISCLI_AUTH:-}" ]; then
        say FAIL cache "$what: no password in the application's REDIS_PASSWORD"
        return 1
    fi
    # --tls verifies the server's chain against the image's CA store (no
    # --insecure); redis-cli reads the password from REDISCLI_AUTH.
    reply=$(redis-cli --tls -h "$REDIS_HOST" -p "$REDIS_PORT" --user "$REDIS_USERNAME" \
        PING 2>"$WORK/cache.err") || true
    # redis-cli exits 0 on some refusals (NOAUTH, WRONGPASS): read the reply.
    if [ "$reply" = "PONG" ]; then
        say PASS cache "$what: PING answered PONG over TLS"
        return 0
    fi
    reason=$(first_line "$WORK/cache.err")
    say FAIL cache "$what: PING answered '${reply}'${reason:+ ($reason)}"
    return 1
}

health() {
    if [ -z "${HEALTH_URL:-}" ]; then
        say SKIP health "${HEALTH_SKIP_REASON:-no public health endpoint configured}"
        return 0
    fi
    code=$(curl --silent --show-error --proto =https --max-time 15 --output /dev/null \
        --write-out '%{http_code}' "$HEALTH_URL" 2>"$WORK/health.err") || true
    case $code in
        2??)
            say PASS health "$HEALTH_URL answered HTTP $code"
            ;;
        000 | "")
            say FAIL health "$HEALTH_URL: no answer ($(first_line "$WORK/health.err"))"
            return 1
            ;;
        *)
            say FAIL health "$HEALTH_URL answered HTTP $code (want 2xx)"
            return 1
            ;;
    esac
}

case ${1:-} in
    ca-bundle) ca_bundle ;;
    db-token) db_token ;;
    prepare) ca_bundle && db_token ;;
    database | cache | health) "$1" ;;
    *)
        echo "usage: smoke.sh ca-bundle|db-token|prepare|database|cache|health" >&2
        exit 2
        ;;
esac
