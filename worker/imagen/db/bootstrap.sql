-- The platform's part of a hosted Supabase project, for a plain PostgreSQL (the tests' image, the
-- embedded demo cluster). Run as the cluster's superuser, `supabase_admin` as on the platform;
-- everything after it (migrations, pgTAP, the worker, the tests) logs in as `postgres`, which is
-- no superuser, exactly as on a hosted project.
--
-- Mirrors supabase/postgres (migrations/db/init-scripts and migrations/db/migrations) and
-- supabase/storage where Imagen touches them:
--   * postgres: NOSUPERUSER CREATEROLE CREATEDB REPLICATION BYPASSRLS, member of anon,
--     authenticated and service_role, search_path "$user", public, extensions;
--   * the API roles INHERIT; authenticator has statement_timeout and lock_timeout 8 s;
--   * schemas auth and storage belong to supabase_admin, their tables and functions to
--     supabase_auth_admin / supabase_storage_admin; postgres has table rights, not ownership;
--   * storage rows cannot be deleted with plain SQL (storage.protect_delete(), lifted by
--     `set local storage.allow_delete_query = 'true'` as the Storage API does);
--   * auth.users.email is unique only through a partial index;
--   * the supabase_realtime publication belongs to postgres;
--   * Realtime's authorization table realtime.messages (partitioned by inserted_at, RLS on) and
--     realtime.topic() belong to supabase_realtime_admin, mirroring supabase/realtime
--     (lib/realtime/tenants/repo/migrations: 20260420000000_squash_migrations and
--     20260606120000_setup_supabase_realtime_admin); postgres is a member of
--     supabase_realtime_admin (that migration grants it where supautils' policy_grants do not
--     cover realtime), so migrations can create policies on realtime.messages.
-- Two stand-ins for the platform's supautils extension (which lets postgres do a few owner or
-- superuser things): postgres is a member of supabase_storage_admin, so migrations can create
-- policies on storage.objects (supautils' policy_grants), and pgtap and plpgsql_check are
-- created here, so `create extension if not exists pgtap` and `supabase db lint` work
-- (supautils' privileged extensions).
--
-- Every statement creates only what is missing. Kept out of supabase/migrations/ on purpose:
-- those must run unchanged on a real project.

do $$
begin
  if not exists (select from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin login superuser createdb createrole replication bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'postgres') then
    create role postgres login nosuperuser createrole createdb replication bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin login noinherit noreplication;
  end if;
  if not exists (select from pg_roles where rolname = 'supabase_storage_admin') then
    create role supabase_storage_admin login noinherit createrole noreplication;
  end if;
end
$$;

alter role anon inherit;
alter role authenticated inherit;
alter role service_role inherit;
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role to postgres;
grant supabase_storage_admin to postgres;  -- stand-in for supautils' policy_grants, see above
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role postgres set search_path to "$user", public, extensions;
alter role supabase_auth_admin set search_path = auth;
alter role supabase_storage_admin set search_path = storage;

do $$
begin
  execute format('grant all on database %I to postgres', current_database());
end
$$;
-- The database may be the superuser's (the `postgres` database is); postgres still works in public.
grant usage, create on schema public to postgres;
grant usage on schema public to anon, authenticated, service_role;

-- Owned by supabase_admin as on a real project (and so `supabase db reset` leaves them alone).
create schema if not exists extensions authorization supabase_admin;
create schema if not exists auth authorization supabase_admin;
create schema if not exists storage authorization supabase_admin;
grant usage on schema extensions, auth to postgres, anon, authenticated, service_role;
grant usage on schema storage to postgres with grant option;
grant usage on schema storage to anon, authenticated, service_role;
grant all on schema extensions to postgres;
grant all on schema auth to supabase_auth_admin;
grant all on schema storage to supabase_storage_admin with grant option;

create extension if not exists "uuid-ossp" with schema extensions;
create extension if not exists pgcrypto with schema extensions;
do $$
begin
  if exists (select from pg_available_extensions where name = 'pgtap') then
    create extension if not exists pgtap with schema extensions;
  end if;
  if exists (select from pg_available_extensions where name = 'plpgsql_check') then
    create extension if not exists plpgsql_check with schema extensions;
  end if;
end
$$;

do $$
begin
  if to_regclass('auth.users') is null then
    create table auth.users (
      id uuid primary key,
      email varchar(255),
      is_sso_user boolean not null default false,
      raw_user_meta_data jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    -- As GoTrue has it: SSO users may share an email with a password user.
    create unique index users_email_partial_key on auth.users (email) where (is_sso_user = false);
    alter table auth.users owner to supabase_auth_admin;
    grant all on auth.users to postgres;
    grant select on auth.users to service_role;
  end if;
end
$$;

-- The same definitions Supabase ships: claims come from the request.jwt.claims setting that
-- PostgREST (and `set local request.jwt.claims`) provides.
do $$
begin
  if to_regprocedure('auth.jwt()') is null then
    create function auth.jwt() returns jsonb language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
    alter function auth.jwt() owner to supabase_auth_admin;
  end if;
  if to_regprocedure('auth.uid()') is null then
    create function auth.uid() returns uuid language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
    alter function auth.uid() owner to supabase_auth_admin;
  end if;
  if to_regprocedure('auth.role()') is null then
    create function auth.role() returns text language sql stable as $f$
      select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
    alter function auth.role() owner to supabase_auth_admin;
  end if;
end
$$;

do $$
begin
  if to_regclass('storage.buckets') is null then
    create table storage.buckets (
      id text primary key,
      name text not null unique,
      owner uuid,
      public boolean not null default false,
      file_size_limit bigint,
      allowed_mime_types text[],
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    );
    alter table storage.buckets owner to supabase_storage_admin;
    alter table storage.buckets enable row level security;
    grant all on storage.buckets to anon, authenticated, service_role;
    grant all on storage.buckets to postgres with grant option;
  end if;
  if to_regclass('storage.objects') is null then
    create table storage.objects (
      id uuid primary key default gen_random_uuid(),
      bucket_id text references storage.buckets (id),
      name text,
      owner uuid,
      owner_id text,
      metadata jsonb,
      path_tokens text[] generated always as (string_to_array(name, '/')) stored,
      version text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      last_accessed_at timestamptz not null default now(),
      unique (bucket_id, name)
    );
    alter table storage.objects owner to supabase_storage_admin;
    alter table storage.objects enable row level security;
    grant all on storage.objects to anon, authenticated, service_role;
    grant all on storage.objects to postgres with grant option;
  end if;
end
$$;

do $$
begin
  if to_regprocedure('storage.foldername(text)') is null then
    create function storage.foldername(name text) returns text[] language plpgsql immutable as $f$
    declare
      _parts text[];
    begin
      select string_to_array(name, '/') into _parts;
      return _parts[1:array_length(_parts, 1) - 1];
    end
    $f$;
    alter function storage.foldername(text) owner to supabase_storage_admin;
    grant execute on function storage.foldername(text) to anon, authenticated, service_role;
  end if;
  -- supabase/storage: rows go through the Storage API, which sets storage.allow_delete_query
  -- for its own deletes; a plain DELETE would orphan the stored files.
  if to_regprocedure('storage.protect_delete()') is null then
    create function storage.protect_delete() returns trigger language plpgsql as $f$
    begin
      if coalesce(current_setting('storage.allow_delete_query', true), 'false') != 'true' then
        raise exception 'Direct deletion from storage tables is not allowed. Use the Storage API instead.'
          using hint = 'This prevents accidental data loss from orphaned objects.',
                errcode = '42501';
      end if;
      return null;
    end
    $f$;
    alter function storage.protect_delete() owner to supabase_storage_admin;
    create trigger protect_buckets_delete before delete on storage.buckets
      for each statement execute function storage.protect_delete();
    create trigger protect_objects_delete before delete on storage.objects
      for each statement execute function storage.protect_delete();
  end if;
end
$$;

do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
    alter publication supabase_realtime owner to postgres;
  end if;
end
$$;

-- supabase/realtime: the tables its Broadcast/Presence authorization runs RLS against. The server
-- checks a channel join by inserting a message row for the topic, then, in the same transaction
-- rolled back, selecting it as the user with request.jwt.claims and realtime.topic set.
do $$
begin
  if not exists (select from pg_roles where rolname = 'supabase_realtime_admin') then
    create role supabase_realtime_admin noinherit nologin noreplication;
  end if;
end
$$;
grant supabase_realtime_admin to postgres;
create schema if not exists realtime authorization supabase_admin;
grant usage on schema realtime to postgres, anon, authenticated, service_role;
grant usage on schema realtime to postgres with grant option;
grant all on schema realtime to supabase_realtime_admin with grant option;

do $$
begin
  if to_regclass('realtime.messages') is null then
    create table realtime.messages (
      topic text not null,
      extension text not null,
      payload jsonb,
      event text,
      private boolean default false,
      updated_at timestamp without time zone default now() not null,
      inserted_at timestamp without time zone default now() not null,
      id uuid default gen_random_uuid() not null,
      constraint messages_pkey primary key (id, inserted_at)
    ) partition by range (inserted_at);
    create index messages_inserted_at_topic_index on only realtime.messages
      using btree (inserted_at desc, topic) where extension = 'broadcast' and private is true;
    create table realtime.messages_default partition of realtime.messages default;
    alter table realtime.messages owner to supabase_realtime_admin;
    alter table realtime.messages_default owner to supabase_realtime_admin;
    alter table realtime.messages enable row level security;
    grant all on realtime.messages to supabase_realtime_admin;
    grant select, insert, update on realtime.messages to postgres, anon, authenticated, service_role;
    grant delete, truncate, references, trigger on realtime.messages to postgres;
  end if;
  if to_regprocedure('realtime.topic()') is null then
    create function realtime.topic() returns text language sql stable as $f$
      select nullif(current_setting('realtime.topic', true), '')::text;
    $f$;
    alter function realtime.topic() owner to supabase_realtime_admin;
  end if;
end
$$;
