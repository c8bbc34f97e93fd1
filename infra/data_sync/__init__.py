"""The weekly anonymised copy of production: rules, masks and the export SQL.

Pure (no Pulumi, no database): ``load_rules`` reads and checks
``rules.yaml``; ``export_sql`` compiles it into the one psql script the
export job runs against production's read replica. Masking happens inside
that SELECT, in production, so no unmasked value ever reaches a file, a
bucket or another environment.

The masks are HMAC-SHA256 under the mask key (production's Secrets Manager),
computed with PostgreSQL's built-in ``sha256`` so they run as a read-only
role on a hot standby (no extension, no function to create). The same input
gives the same pseudonym in every table and every week; nobody without the
key can check a guess. export.sh / import.sh beside this file run the
pipeline (see README "Production data in staging").
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

DATA_SYNC_DIR: Final = Path(__file__).resolve().parent
RULES_FILE: Final = DATA_SYNC_DIR / "rules.yaml"
# What the jobs' ConfigMap holds; export.sql is generated, the rest are files here.
SCRIPTS: Final = ("export.sh", "import.sh", "import.sql")

# The mask key the program generates: alphanumeric, so it needs no quoting
# anywhere, and within the 32 to 64 bytes export.sh accepts (HMAC-SHA256 takes
# keys up to its 64-byte block as they are; the SQL does not hash longer ones).
MASK_KEY_LENGTH: Final = 48

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Invented names for person_name / address: none is a real person's full name
# by design, and the test data's real-looking names are not among them.
FIRST_NAMES: Final = (
    "Alex", "Blake", "Casey", "Dana", "Eden", "Finley", "Gray", "Harper",
    "Indy", "Jules", "Kai", "Lane", "Morgan", "Noel", "Oakley", "Parker",
    "Quinn", "Reese", "Sage", "Tatum", "Umber", "Vale", "Wren", "Yael",
)  # fmt: skip
LAST_NAMES: Final = (
    "Ashcombe", "Brightwell", "Copperfield", "Dunmere", "Elderbrook", "Fernsby",
    "Greywick", "Hollowell", "Ivybridge", "Juniperson", "Kestrelby", "Larkmoor",
    "Mossgrove", "Nettlefold", "Oakhurst", "Pebblecroft", "Quillon", "Rookwood",
    "Saltmarsh", "Thistledown", "Underhill", "Vetchley", "Willowmere", "Yarrowby",
)  # fmt: skip
STREETS: Final = (
    "Acorn", "Birch", "Cedar", "Daisy", "Elm", "Fern", "Hazel", "Juniper",
    "Laurel", "Maple", "Nutmeg", "Orchid", "Poplar", "Rowan", "Sorrel", "Tansy",
)  # fmt: skip
STREET_KINDS: Final = ("Street", "Road", "Lane", "Avenue", "Close", "Way")
FILLER: Final = "lorem ipsum dolor sit amet "
PSEUDONYM_DOMAIN: Final = "example.com"  # RFC 2606: never anyone's mailbox
MAX_DATE_SHIFT_DAYS: Final = 180
# What a phone mask keeps in place; every other character becomes a digit.
PHONE_SEPARATORS: Final = "' ', '+', '-', '(', ')', '.', '/'"


@dataclass(frozen=True)
class Strategy:
    name: str
    summary: str
    needs_value: bool = False


STRATEGIES: Final = {
    s.name: s
    for s in (
        Strategy("keep", "copied unchanged"),
        Strategy("email", f"user-<hash>@{PSEUDONYM_DOMAIN}, unique as the original"),
        Strategy("phone", "separators ( +-()./) kept, every other character a digit"),
        Strategy("person_name", "an invented first and last name"),
        Strategy("address", "an invented street address"),
        Strategy("free_text", "filler text of the same length"),
        Strategy("card_number", "a Luhn-valid number with the same digit count"),
        Strategy("date_shift", f"moved 1 to {MAX_DATE_SHIFT_DAYS} days either way"),
        Strategy("hashed_id", "a pseudonym of the column's type: integer, uuid or hex text"),
        Strategy("null", "emptied"),
        Strategy("fixed", "one value for every row", needs_value=True),
        Strategy("generated", "a generated column: not copied, the import recomputes it"),
    )
}


@dataclass(frozen=True)
class ColumnRule:
    table: str
    column: str
    strategy: str
    value: str | None = None

    @property
    def masked(self) -> bool:
        return self.strategy != "keep"

    @property
    def copied(self) -> bool:
        return self.strategy != "generated"


@dataclass(frozen=True)
class Rules:
    columns: tuple[ColumnRule, ...]
    # The file as written: what the job ships and hashes into each manifest.
    text: str
    sha256: str

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.table for rule in self.columns))

    def of(self, table: str) -> tuple[ColumnRule, ...]:
        return tuple(rule for rule in self.columns if rule.table == table)


@dataclass(frozen=True)
class RulesProblem:
    """One mistake in rules.yaml: the entry (`tables.<table>.<column>`), what it holds, why."""

    entry: str
    value: object
    message: str


class RulesError(ValueError):
    """rules.yaml is malformed: one line per problem, each naming the entry."""

    def __init__(self, source: str, problems: list[RulesProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            "\n".join(f"{source}: {p.entry + ': ' if p.entry else ''}{p.message}" for p in problems)
        )


def load_rules(path: Path = RULES_FILE) -> Rules:
    raw = path.read_bytes()
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        problem = RulesProblem("", None, f"not valid YAML: {error}")
        raise RulesError(path.name, [problem]) from None
    return parse_rules(document, raw=raw, source=path.name)


def parse_rules(document: object, *, raw: bytes = b"", source: str = "rules.yaml") -> Rules:
    problems: list[RulesProblem] = []
    if not isinstance(document, Mapping) or set(document) != {"tables"}:
        raise RulesError(
            source, [RulesProblem("", None, "must be a mapping with one key, 'tables'")]
        )
    tables = document["tables"]
    if not isinstance(tables, Mapping) or not tables:
        raise RulesError(
            source, [RulesProblem("tables", tables, "must map each table to its columns")]
        )
    columns: list[ColumnRule] = []
    for table, table_rules in tables.items():
        where = f"tables.{table}"
        if not isinstance(table, str) or not IDENTIFIER.fullmatch(table):
            rule_text = "table names are lower-case SQL identifiers ([a-z_][a-z0-9_]*)"
            problems.append(RulesProblem(where, table, rule_text))
            continue
        if not isinstance(table_rules, Mapping) or not table_rules:
            problems.append(RulesProblem(where, table_rules, "must map each column to a strategy"))
            continue
        for column, entry in table_rules.items():
            at = f"{where}.{column}"
            if not isinstance(column, str) or not IDENTIFIER.fullmatch(column):
                problems.append(RulesProblem(
                    at, column, "column names are lower-case SQL identifiers"))  # fmt: skip
                continue
            rule, problem = _column_rule(table, column, entry)
            if problem:
                problems.append(RulesProblem(at, entry, problem))
            elif rule is not None:
                columns.append(rule)
    if problems:
        raise RulesError(source, problems)
    raw = raw or yaml.safe_dump(document, sort_keys=False).encode("utf-8")
    # The file's bytes, as `sha256sum rules.yaml` in the job computes them.
    digest = hashlib.sha256(raw).hexdigest()
    return Rules(columns=tuple(columns), text=raw.decode("utf-8"), sha256=digest)


def _column_rule(table: str, column: str, entry: object) -> tuple[ColumnRule | None, str]:
    allowed = ", ".join(STRATEGIES)
    if isinstance(entry, Mapping):
        if set(entry) != {"fixed"}:
            return None, f"a mapping must be {{fixed: <value>}}, got {dict(entry)!r}"
        value = entry["fixed"]
        if not isinstance(value, str | int | float | bool):
            return None, f"fixed value must be a string or number, got {value!r}"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return ColumnRule(table, column, "fixed", text), ""
    if entry is None:  # YAML's bare `null`
        return ColumnRule(table, column, "null"), ""
    if not isinstance(entry, str) or entry not in STRATEGIES:
        close = difflib.get_close_matches(str(entry), list(STRATEGIES), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return None, f"unknown strategy {entry!r}{hint}; allowed: {allowed}"
    if STRATEGIES[entry].needs_value:
        return None, f"'{entry}' needs a value: write {{{entry}: <value>}}"
    return ColumnRule(table, column, entry), ""


# --- SQL -------------------------------------------------------------------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _array(values: tuple[str, ...]) -> str:
    return "ARRAY[" + ", ".join(_literal(v) for v in values) + "]"


def _hmac(domain: str, value_sql: str) -> str:
    """HMAC-SHA256(mask key, '<domain>:' || value) as bytea.

    The key pads (settings stagecraft.mask_ipad / mask_opad, hex) are computed
    once per session by the script's preamble, so no statement's text carries
    them; the domain keeps one strategy's pseudonyms from matching another's.
    """
    message = f"convert_to({_literal(domain + ':')} || {value_sql}, 'UTF8')"
    inner = f"sha256(decode(current_setting('stagecraft.mask_ipad'), 'hex') || {message})"
    return f"sha256(decode(current_setting('stagecraft.mask_opad'), 'hex') || {inner})"


def _digits(hash_sql: str) -> str:
    """A 256-digit decimal stream from a hash (hex a-f read as 0-5)."""
    return f"repeat(translate(encode({hash_sql}, 'hex'), 'abcdef', '012345'), 4)"


def mask_sql(rule: ColumnRule) -> str:
    """The SELECT expression that produces the column's copied value."""
    x = f'"{rule.column}"'
    digits_only = f"regexp_replace({x}::text, '[^0-9]', '', 'g')"
    match rule.strategy:
        case "keep" | "generated":
            return x
        case "null":
            return "NULL"
        case "fixed":
            return _literal(rule.value or "")
        case "email":
            # The exact address: two that differ only in case stay two (a
            # case-sensitive UNIQUE column keeps holding), 80 bits apart.
            return (
                f"'user-' || left(encode({_hmac('email', f'{x}::text')}, 'hex'), 20)"
                f" || '@{PSEUDONYM_DOMAIN}'"
            )
        case "phone":
            stream = _digits(_hmac("phone", digits_only))
            return (
                f"CASE WHEN {x} IS NULL THEN NULL ELSE (SELECT coalesce(string_agg("
                # Separators kept; anything else (digits of any script,
                # letters: "ask for Maria") becomes a digit.
                f"CASE WHEN ch IN ({PHONE_SEPARATORS}) THEN ch ELSE substr(d, n::int, 1) END,"
                " '' ORDER BY n), '')"
                f" FROM regexp_split_to_table({x}::text, '') WITH ORDINALITY AS chars (ch, n),"
                f" (SELECT {stream} AS d) AS stream) END"
            )
        case "person_name":
            return (
                f"(SELECT ({_array(FIRST_NAMES)})[1 + get_byte(h, 0) % {len(FIRST_NAMES)}]"
                f" || ' ' || ({_array(LAST_NAMES)})[1 + get_byte(h, 1) % {len(LAST_NAMES)}]"
                f" FROM (SELECT {_hmac('person_name', f'lower({x}::text)')} AS h) AS hashed)"
            )
        case "address":
            return (
                f"(SELECT (1 + (get_byte(h, 0) * 256 + get_byte(h, 1)) % 999)::text"
                f" || ' ' || ({_array(STREETS)})[1 + get_byte(h, 2) % {len(STREETS)}]"
                f" || ' ' || ({_array(STREET_KINDS)})[1 + get_byte(h, 3) % {len(STREET_KINDS)}]"
                f" FROM (SELECT {_hmac('address', f'lower({x}::text)')} AS h) AS hashed)"
            )
        case "free_text":
            return (
                f"CASE WHEN {x} IS NULL THEN NULL ELSE left(repeat({_literal(FILLER)},"
                f" length({x}::text) / {len(FILLER)} + 1), length({x}::text)) END"
            )
        case "card_number":
            # The original's first digit (the card network) and a Luhn check
            # digit around hashed digits: card validators accept it, no
            # payment network does.
            payload = (
                f"left({digits_only}, 1) || left({_digits(_hmac('card_number', digits_only))},"
                f" greatest(length({digits_only}) - 2, 0))"
            )
            digit = "substr(p, i, 1)::int"
            luhn = (
                f"CASE WHEN (length(p) - i) % 2 = 0 THEN CASE WHEN {digit} * 2 > 9"
                f" THEN {digit} * 2 - 9 ELSE {digit} * 2 END ELSE {digit} END"
            )
            return (
                f"CASE WHEN {x} IS NULL THEN NULL ELSE coalesce((SELECT p || ((10 - sum({luhn})"
                f" % 10) % 10)::text FROM (SELECT {payload} AS p) AS payload,"
                f" generate_series(1, length(p)) AS i GROUP BY p), '') END"
            )
        case "date_shift":
            days = (
                f"(1 + get_byte(h, 0) % {MAX_DATE_SHIFT_DAYS})"
                " * CASE WHEN get_byte(h, 1) % 2 = 0 THEN 1 ELSE -1 END"
            )
            return (
                f"(SELECT CASE WHEN pg_typeof({x}) = 'date'::regtype"
                f" THEN ({x} + {days} * interval '1 day')::date::text"
                f" ELSE ({x} + {days} * interval '1 day')::text END"
                f" FROM (SELECT {_hmac('date_shift', f'{x}::text')} AS h) AS hashed)"
            )
        case "hashed_id":
            # A value of the column's own type: positive integers of its
            # width (60, 31 or 15 bits; a unique integer column of many rows
            # may collide), a uuid for a uuid, else at least 16 hex digits
            # (longer originals keep their length).
            return (
                f"(SELECT CASE WHEN pg_typeof({x}) IN ('bigint'::regtype, 'numeric'::regtype)"
                " THEN ('x' || left(encode(h, 'hex'), 15))::bit(60)::bigint::text"
                f" WHEN pg_typeof({x}) = 'integer'::regtype"
                " THEN ('x' || left(encode(h, 'hex'), 8))::bit(31)::int::text"
                f" WHEN pg_typeof({x}) = 'smallint'::regtype"
                " THEN ('x' || left(encode(h, 'hex'), 4))::bit(15)::int::text"
                f" WHEN pg_typeof({x}) = 'uuid'::regtype"
                " THEN encode(substr(h, 1, 16), 'hex')::uuid::text"
                f" ELSE left(encode(h, 'hex') || encode(h, 'hex'), greatest(length({x}::text), 16))"
                f" END FROM (SELECT {_hmac('hashed_id', f'{x}::text')} AS h) AS hashed)"
            )
    raise AssertionError(f"no SQL for strategy {rule.strategy}")  # parse_rules forbids it


_PREAMBLE = """\
-- The export: generated from infra/data_sync/rules.yaml (rules sha256 {sha}) by
-- infra.data_sync.export_sql; run by export.sh as `psql -f export.sql` in the
-- dump directory. Do not edit: change rules.yaml.
\\set ON_ERROR_STOP on
\\pset format unaligned
\\pset tuples_only on
\\pset footer off

-- The HMAC pads of the mask key, as session settings. The key arrives in the
-- connection's startup options (export.sh sets PGOPTIONS), never in SQL text:
-- the server logs slow statements and Performance Insights keeps SQL, and
-- whoever holds the key can test a guess against a pseudonym.
\\o /dev/null
SELECT set_config('stagecraft.mask_ipad', ipad, false),
       set_config('stagecraft.mask_opad', opad, false)
  FROM (SELECT string_agg(lpad(to_hex(get_byte(k, i) # 54), 2, '0'), '' ORDER BY i) AS ipad,
               string_agg(lpad(to_hex(get_byte(k, i) # 92), 2, '0'), '' ORDER BY i) AS opad
          FROM (SELECT key || decode(repeat('00', 64 - octet_length(key)), 'hex') AS k
                  FROM (SELECT convert_to(current_setting('stagecraft.mask_key'), 'UTF8') AS key)
                       AS raw) AS padded,
               generate_series(0, 63) AS i) AS pads;
\\o

-- One snapshot for the check, the counts and every table.
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
"""

# The live schema both the fingerprint and the fail-closed check read: every
# column of the public schema's tables (a partition counts through its parent),
# from pg_catalog, which also lists tables the export role cannot read
# (information_schema would hide them).
_PUBLIC_COLUMNS = """\
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped"""


def fingerprint_sql() -> str:
    """One hash of the public schema's tables, columns, types and NOT NULLs."""
    return f"""\
SELECT encode(sha256(convert_to(coalesce(string_agg(
         format('%s.%s %s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN ' not null' ELSE '' END),
         E'\\n' ORDER BY c.relname, a.attnum), ''), 'UTF8')), 'hex')
{_PUBLIC_COLUMNS};
"""


def job_files(rules: Rules) -> dict[str, str]:
    """What the data-sync jobs' ConfigMap holds: the scripts, rules.yaml and its SQL."""
    files = {name: (DATA_SYNC_DIR / name).read_text(encoding="utf-8") for name in SCRIPTS}
    return {
        **files,
        "rules.yaml": rules.text,
        "export.sql": export_sql(rules),
        "fingerprint.sql": fingerprint_sql(),
    }


def export_sql(rules: Rules) -> str:
    """The psql script: check, counts, schema fingerprint and one masked COPY per table."""
    parts = [_PREAMBLE.format(sha=rules.sha256), _check_sql(rules)]
    parts.append("\\o schema.sha256\n" + fingerprint_sql() + "\\o\n")
    counts = ", ".join(
        f'{_literal(table)}, (SELECT count(*) FROM public."{table}")' for table in rules.tables
    )
    parts.append(f"\\o rows.json\nSELECT json_build_object({counts});\n\\o\n")
    for table in rules.tables:
        select = ", ".join(
            f'{mask_sql(rule)} AS "{rule.column}"' if rule.masked else f'"{rule.column}"'
            for rule in rules.of(table)
            if rule.copied
        )
        parts.append(
            f"\\o data/{table}.csv\n"
            f'COPY (SELECT {select} FROM public."{table}")'
            " TO STDOUT WITH (FORMAT csv, HEADER true);\n"
            "\\o\n"
        )
    parts.append("COMMIT;\n")
    return "\n".join(parts)


def _check_sql(rules: Rules) -> str:
    classified = ",\n            ".join(
        f"({_literal(rule.table)}, {_literal(rule.column)}, {str(not rule.copied).lower()})"
        for rule in rules.columns
    )
    return f"""\
-- Fail closed: every column of the live schema has a rule and every rule
-- names a live column, or the run stops here, before any file is written.
DO $fail_closed$
DECLARE
    unclassified text;
    stale text;
    misnamed text;
BEGIN
    WITH live AS (
        SELECT c.relname::text AS table_name, a.attname::text AS column_name, a.attnum,
               a.attgenerated <> '' AS generated
        {_PUBLIC_COLUMNS}
    ), rules (table_name, column_name, generated) AS (
        VALUES
            {classified}
    )
    SELECT (SELECT string_agg(format('public.%s.%s', table_name, column_name), ', '
                              ORDER BY table_name, attnum)
              FROM live
             WHERE (table_name, column_name) NOT IN (SELECT table_name, column_name FROM rules)),
           (SELECT string_agg(format('public.%s.%s', table_name, column_name), ', '
                              ORDER BY table_name, column_name)
              FROM rules
             WHERE (table_name, column_name) NOT IN (SELECT table_name, column_name FROM live)),
           -- `generated` exactly for the generated columns: a stored one cannot
           -- be loaded, and any other must be copied.
           (SELECT string_agg(format('public.%s.%s', table_name, column_name), ', '
                              ORDER BY table_name, column_name)
              FROM live JOIN rules USING (table_name, column_name)
             WHERE live.generated <> rules.generated)
      INTO unclassified, stale, misnamed;
    IF unclassified IS NOT NULL OR stale IS NOT NULL OR misnamed IS NOT NULL THEN
        RAISE EXCEPTION 'export stopped before writing anything: '
                        'rules.yaml does not match the schema'
            USING DETAIL = format(
                'Columns without a rule: %s. Rules for columns the database does not have: %s. '
                'Generated columns without the rule generated, or the reverse: %s.',
                coalesce(unclassified, 'none'), coalesce(stale, 'none'),
                coalesce(misnamed, 'none')),
            HINT = 'Classify each column in infra/data_sync/rules.yaml '
                   '(README "Production data in staging"), deploy, then run again.';
    END IF;
END
$fail_closed$;
"""
