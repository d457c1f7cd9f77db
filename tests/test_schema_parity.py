"""supabase/migrations and supabase/schemas describe the same database.

Two fresh databases: one built by the Supabase CLI from the migrations (the session's template),
one by running the schema files in order as postgres (no superuser, as on a hosted project). Their
catalogs are compared object by object: functions with their bodies and ACLs, tables and columns,
constraints, indexes, triggers, policies, table and column grants, publication members, default
privileges, comments, and the data rows the schema needs (the default limit, the bucket).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.database import REPO_ROOT, DatabaseFactory, as_cli_url, supabase

SCHEMA_DIR = REPO_ROOT / "supabase" / "schemas"
OURS = "('imagen', 'imagen_private')"

# Each query returns rows that describe one kind of object; the rows of both databases must match.
CATALOG: dict[str, str] = {
    "schemas": f"""
        select n.nspname, n.nspowner::regrole::text, obj_description(n.oid, 'pg_namespace'),
               array(select format('%s:%s:%s', a.grantee::regrole, a.privilege_type, a.grantor::regrole)
                     from aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a order by 1)
        from pg_namespace n where n.nspname in {OURS}""",
    "functions": f"""
        select p.oid::regprocedure::text, p.proowner::regrole::text, pg_get_functiondef(p.oid),
               obj_description(p.oid, 'pg_proc'),
               array(select format('%s:%s:%s', a.grantee::regrole, a.privilege_type, a.grantor::regrole)
                     from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a order by 1)
        from pg_proc p where p.pronamespace::regnamespace::text in {OURS}""",
    "relations": f"""
        select c.oid::regclass::text, c.relkind, c.relowner::regrole::text, c.relrowsecurity,
               c.relforcerowsecurity, c.relreplident, obj_description(c.oid, 'pg_class'),
               case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end,
               array(select format('%s:%s:%s', a.grantee::regrole, a.privilege_type, a.grantor::regrole)
                     from aclexplode(coalesce(c.relacl, acldefault(
                       case when c.relkind = 'S' then 's' else 'r' end::"char", c.relowner))) a order by 1)
        from pg_class c where c.relnamespace::regnamespace::text in {OURS} and c.relkind <> 'i'""",
    # Columns in order: own_job and `select *` build rows by position.
    "columns": f"""
        select a.attrelid::regclass::text,
               row_number() over (partition by a.attrelid order by a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity, a.attgenerated,
               pg_get_expr(d.adbin, d.adrelid), col_description(a.attrelid, a.attnum),
               array(select format('%s:%s:%s', x.grantee::regrole, x.privilege_type, x.grantor::regrole)
                     from aclexplode(a.attacl) x order by 1)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where c.relnamespace::regnamespace::text in {OURS} and c.relkind in ('r', 'v', 'm', 'p')
          and a.attnum > 0 and not a.attisdropped""",
    "constraints": f"""
        select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.condeferrable,
               c.condeferred, c.convalidated
        from pg_constraint c where c.connamespace::regnamespace::text in {OURS}""",
    "indexes": f"""
        select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        from pg_index i join pg_class c on c.oid = i.indrelid
        where c.relnamespace::regnamespace::text in {OURS}""",
    "triggers": f"""
        select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace::regnamespace::text in {OURS}""",
    # Ours and the platform's (realtime.messages, storage.objects): both databases share the latter.
    "policies": """
        select schemaname, tablename, policyname, permissive, roles::text[], cmd, qual, with_check
        from pg_policies""",
    "publication": """
        select p.pubname, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, p.puballtables,
               array(select format('%s.%s', t.schemaname, t.tablename)
                     from pg_publication_tables t where t.pubname = p.pubname order by 1)
        from pg_publication p""",
    "default privileges": """
        select d.defaclrole::regrole::text, d.defaclnamespace::regnamespace::text, d.defaclobjtype,
               array(select format('%s:%s', a.grantee::regrole, a.privilege_type)
                     from aclexplode(d.defaclacl) a order by 1)
        from pg_default_acl d""",
    # Data the schema cannot do without.
    "default limits": "select owner_id, anonymous, max_unfinished_tries, max_webhook_endpoints from imagen.limits"
    " where owner_id is null order by anonymous",
    "bucket": """
        select id, name, public, file_size_limit, allowed_mime_types
        from storage.buckets where id = 'imagen'""",
}


def hashable(value):
    return tuple(value) if isinstance(value, list) else value


def catalog(url: str) -> dict[str, set[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            kind: {tuple(hashable(v) for v in row) for row in conn.execute(query)} for kind, query in CATALOG.items()
        }


def apply_schema_files(url: str) -> None:
    """The declared schema, file by file in name order, as postgres, in one transaction."""
    with psycopg.connect(url) as conn:
        assert not conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
        for path in sorted(SCHEMA_DIR.glob("*.sql")):
            try:
                conn.execute(path.read_text())
            except psycopg.Error as e:
                raise AssertionError(f"{path.name} does not apply: {e}") from e


@pytest.fixture
def declared_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.create_empty("declared")
    yield url
    databases.drop(url)


def differences(migrated: dict[str, set[tuple]], declared: dict[str, set[tuple]]) -> list[str]:
    out = []
    for kind in CATALOG:
        for row in sorted(migrated[kind] - declared[kind], key=repr):
            out.append(f"{kind}: only the migrations have {row}")
        for row in sorted(declared[kind] - migrated[kind], key=repr):
            out.append(f"{kind}: only supabase/schemas has {row}")
    return out


def test_schema_files_are_named_in_config():
    config = (REPO_ROOT / "supabase" / "config.toml").read_text()
    assert 'schema_paths = ["./schemas/*.sql"]' in config


def test_migrations_and_declared_schema_make_the_same_database(db_url, declared_url):
    apply_schema_files(declared_url)
    migrated, declared = catalog(db_url), catalog(declared_url)
    # The comparison sees our objects at all (an empty query on both sides would pass).
    assert len(migrated["functions"]) > 30 and len(migrated["policies"]) > 10
    diff = differences(migrated, declared)
    assert not diff, "supabase/migrations and supabase/schemas disagree:\n" + "\n".join(diff)


def test_supabase_db_diff_finds_nothing_between_them(db_url, declared_url):
    """The CLI's own diff (what `supabase db diff` writes into a migration) agrees: it is empty."""
    apply_schema_files(declared_url)
    diff = supabase("db", "diff", "--from", as_cli_url(db_url), "--to", as_cli_url(declared_url),
                    "--schema", "imagen,imagen_private")  # fmt: skip
    assert diff.stdout.strip() == "", diff.stdout
