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

-- The rest of GoTrue's tables that sign-up, sign-in and refresh use, with the columns of
-- supabase/auth's migrations (a subset: no MFA factors, SSO, flow state, one-time tokens):
-- auth.users' login and mailed-link columns (00_init_auth_schema, 20210710035447_alter_users,
-- 20210722035447_adds_confirmed_at, 20220114185340_add_banned_until,
-- 20230116124412_add_deleted_at, 20240214120130_add_is_anonymous_column), auth.identities
-- (20210909172000, 20221215195800, 20231117164230), auth.sessions (20220811173540 and later),
-- auth.mfa_amr_claims (20221003041349, 20221011041400) and auth.refresh_tokens
-- (00_init_auth_schema, 20210927181326, 20221114143410). Owned by supabase_auth_admin, which
-- the Auth server logs in as; postgres may read them (20240612123726_enable_rls_update_grants).
alter table auth.users
  add column if not exists instance_id uuid,
  add column if not exists aud varchar(255),
  add column if not exists role varchar(255),
  add column if not exists encrypted_password varchar(255),
  add column if not exists email_confirmed_at timestamptz,
  add column if not exists invited_at timestamptz,
  add column if not exists confirmation_token varchar(255),
  add column if not exists confirmation_sent_at timestamptz,
  add column if not exists recovery_token varchar(255),
  add column if not exists recovery_sent_at timestamptz,
  add column if not exists last_sign_in_at timestamptz,
  add column if not exists raw_app_meta_data jsonb,
  add column if not exists is_super_admin boolean,
  add column if not exists phone text default null,
  add column if not exists phone_confirmed_at timestamptz,
  add column if not exists banned_until timestamptz,
  add column if not exists deleted_at timestamptz,
  add column if not exists is_anonymous boolean not null default false;
alter table auth.users
  add column if not exists confirmed_at timestamptz
    generated always as (least(email_confirmed_at, phone_confirmed_at)) stored;

do $$
begin
  if to_regtype('auth.aal_level') is null then
    create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');
    alter type auth.aal_level owner to supabase_auth_admin;
  end if;
  if to_regclass('auth.identities') is null then
    create table auth.identities (
      provider_id text not null,
      user_id uuid not null references auth.users (id) on delete cascade,
      identity_data jsonb not null,
      provider text not null,
      last_sign_in_at timestamptz,
      created_at timestamptz,
      updated_at timestamptz,
      email text generated always as (lower(identity_data ->> 'email')) stored,
      id uuid primary key default gen_random_uuid(),
      constraint identities_provider_id_provider_unique unique (provider_id, provider)
    );
    create index identities_user_id_idx on auth.identities (user_id);
    create index identities_email_idx on auth.identities (email text_pattern_ops);
    alter table auth.identities owner to supabase_auth_admin;
  end if;
  if to_regclass('auth.sessions') is null then
    create table auth.sessions (
      id uuid primary key,
      user_id uuid not null references auth.users (id) on delete cascade,
      created_at timestamptz,
      updated_at timestamptz,
      factor_id uuid,
      aal auth.aal_level,
      not_after timestamptz,
      refreshed_at timestamp without time zone,
      user_agent text,
      ip inet,
      tag text
    );
    create index sessions_user_id_idx on auth.sessions (user_id);
    alter table auth.sessions owner to supabase_auth_admin;
  end if;
  if to_regclass('auth.mfa_amr_claims') is null then
    create table auth.mfa_amr_claims (
      session_id uuid not null references auth.sessions (id) on delete cascade,
      created_at timestamptz not null,
      updated_at timestamptz not null,
      authentication_method text not null,
      id uuid not null,
      constraint amr_id_pk primary key (id),
      constraint mfa_amr_claims_session_id_authentication_method_pkey unique (session_id, authentication_method)
    );
    alter table auth.mfa_amr_claims owner to supabase_auth_admin;
  end if;
  if to_regclass('auth.refresh_tokens') is null then
    create table auth.refresh_tokens (
      instance_id uuid,
      id bigserial primary key,
      token varchar(255) constraint refresh_tokens_token_unique unique,
      user_id varchar(255),
      revoked boolean,
      created_at timestamptz,
      updated_at timestamptz,
      parent varchar(255),
      session_id uuid references auth.sessions (id) on delete cascade
    );
    create index refresh_tokens_parent_idx on auth.refresh_tokens (parent);
    create index refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
    alter table auth.refresh_tokens owner to supabase_auth_admin;
  end if;
end
$$;
grant select on auth.identities, auth.sessions, auth.mfa_amr_claims, auth.refresh_tokens to postgres with grant option;
-- The stand-in's Auth hashes passwords with pgcrypto (the real one, in Go, makes the same
-- bcrypt $2a$10$ hashes), so its role may use the extensions schema.
grant usage on schema extensions to supabase_auth_admin;

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
  -- supabase/storage migration 0025-custom-metadata: what the uploader said of the object
  -- (multipart field `metadata`, or the x-metadata header).
  alter table storage.objects add column if not exists user_metadata jsonb;
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

-- Broadcast from the database (supabase/realtime, squash_migrations: realtime.send and
-- realtime.broadcast_changes): a message is a row inserted into realtime.messages, which Realtime
-- reads from the WAL (publication supabase_realtime_messages_publication) and broadcasts as the
-- platform. send() never fails its caller: an error becomes a warning and the message is lost.
do $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
    returns void language plpgsql as $f$
    declare
      generated_id uuid;
      final_payload jsonb;
    begin
      begin
        generated_id := gen_random_uuid();
        if payload ? 'id' then
          final_payload := payload;
        else
          final_payload := jsonb_set(payload, '{id}', to_jsonb(generated_id));
        end if;
        execute format('set local realtime.topic to %L', topic);
        insert into realtime.messages (id, payload, event, topic, private, extension)
        values (generated_id, final_payload, event, topic, private, 'broadcast');
      exception
        when others then
          raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
      end;
    end;
    $f$;
    alter function realtime.send(jsonb, text, text, boolean) owner to supabase_realtime_admin;
  end if;
  if to_regprocedure('realtime.broadcast_changes(text, text, text, text, text, record, record, text)') is null then
    create function realtime.broadcast_changes(
      topic_name text, event_name text, operation text, table_name text, table_schema text,
      new record, old record, level text default 'ROW'
    ) returns void language plpgsql as $f$
    declare
      row_data jsonb := '{}'::jsonb;
    begin
      if level = 'STATEMENT' then
        raise exception 'function can only be triggered for each row, not for each statement';
      end if;
      if operation = 'INSERT' or operation = 'UPDATE' or operation = 'DELETE' then
        row_data := jsonb_build_object('old_record', old, 'record', new, 'operation', operation,
                                       'table', table_name, 'schema', table_schema);
        perform realtime.send(row_data, event_name, topic_name);
      else
        raise exception 'Unexpected operation type: %', operation;
      end if;
    exception
      when others then
        raise exception 'Failed to process the row: %', sqlerrm;
    end;
    $f$;
    alter function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
      owner to supabase_realtime_admin;
  end if;
end
$$;
