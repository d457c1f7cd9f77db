-- What users can call, made exactly what the API offers (issue 19). PostgREST serves every
-- function of an exposed schema that the caller may EXECUTE, so the helpers the user RPCs need
-- (they are SECURITY INVOKER: a user running create_series must be allowed to run what it calls)
-- were API too: try_seed, settings_problem, own_series, queue_series_tries, notify_jobs (any user
-- could wake every worker, over and over)... They move to imagen_private, a schema that is not in
-- supabase/config.toml's [api] schemas: users keep EXECUTE on what their RPCs and triggers call,
-- and PostgREST cannot reach any of it. tests/test_api_surface.py lists what each API role may
-- execute and compares it with the intended list.

create schema imagen_private;
comment on schema imagen_private is
  'Imagen helpers the RPCs and triggers call; never exposed by the API (not in [api] schemas)';
grant usage on schema imagen_private to authenticated, service_role;

-- New functions are executable by nobody but their owner until granted. Postgres grants EXECUTE
-- to PUBLIC on every new function, and `alter default privileges in schema imagen revoke ...`
-- (20261125170000) could not undo that: per-schema default privileges only add to the global
-- ones. Only the global form, for the role that runs the migrations (postgres on a hosted
-- project), removes it; it covers functions this role creates in any schema from now on.
alter default privileges revoke execute on functions from public;

-- The helpers keep their privileges and their OIDs (so the CHECK constraints that call
-- settings_problem follow it); the functions that name them are rewritten below.
alter function imagen.assert_valid_settings(text, integer, integer, integer, text, text, bigint)
  set schema imagen_private;
alter function imagen.settings_problem(text, text, integer, integer, integer, text, bigint)
  set schema imagen_private;
alter function imagen.own_series(uuid) set schema imagen_private;
alter function imagen.own_job(uuid) set schema imagen_private;
alter function imagen.try_seed(bigint, integer) set schema imagen_private;
alter function imagen.queue_series_tries(imagen.series, integer, integer) set schema imagen_private;
alter function imagen.caller_is_service() set schema imagen_private;
alter function imagen.max_unfinished_tries(uuid) set schema imagen_private;
alter function imagen.notify_jobs() set schema imagen_private;

-- The helpers that call helpers.
create or replace function imagen_private.assert_valid_settings(
  prompt text, width integer, height integer, steps integer, model text, style text, seed bigint
) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  _problem text := imagen_private.settings_problem(prompt, model, width, height, steps, style, seed);
begin
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
end;
$$;

create or replace function imagen_private.queue_series_tries(series imagen.series, first_idx integer, last_idx integer)
 returns uuid[]
language sql
set search_path = ''
as $$
  with inserted as (
    insert into imagen.jobs (series_id, series_idx, prompt, model, width, height, steps, style, seed)
    select series.id, idx, series.prompt, series.model, series.width, series.height, series.steps,
           series.style, imagen_private.try_seed(series.base_seed, idx)
    from generate_series(first_idx, last_idx) as idx
    returning id, series_idx
  )
  select array_agg(id order by series_idx) from inserted
$$;

-- The user RPCs, unchanged but for the helpers' schema.
create or replace function imagen.create_series(
  prompt text,
  n integer,
  model text default 'black-forest-labs/FLUX.1-schnell',
  width integer default 1024,
  height integer default 1024,
  steps integer default 4,
  style text default null,
  seed bigint default null
) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
  _job_ids uuid[];
begin
  if n is null or n not between 1 and 10 then
    raise exception 'n must be between 1 and 10, got %', coalesce(n::text, 'null')
      using errcode = '22023';
  end if;
  perform imagen_private.assert_valid_settings(prompt, width, height, steps, model, style, seed);

  insert into imagen.series (prompt, model, width, height, steps, style, base_seed, count)
  values (prompt, model, width, height, steps, style, seed, n)
  returning * into _series;
  _job_ids := imagen_private.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;

create or replace function imagen.add_tries(series_id uuid, n integer) returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
  _first integer;
  _job_ids uuid[];
begin
  if n is null or n < 1 then
    raise exception 'n must be at least 1, got %', coalesce(n::text, 'null') using errcode = '22023';
  end if;
  select * into _series from imagen.series s where s.id = add_tries.series_id for update;
  if not found then
    raise exception 'series_id % is not one of your series', add_tries.series_id
      using errcode = '22023';
  end if;
  if _series.count + n > 10 then
    raise exception 'n too large: the series has % tries and may have at most 10', _series.count
      using errcode = '22023';
  end if;
  _first := _series.count + 1;
  update imagen.series s set count = s.count + n where s.id = _series.id returning * into _series;
  _job_ids := imagen_private.queue_series_tries(_series, _first, _series.count);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;

create or replace function imagen.submit_job(
  prompt text,
  model text default 'black-forest-labs/FLUX.1-schnell',
  width integer default 1024,
  height integer default 1024,
  steps integer default 4,
  style text default null,
  seed bigint default null
) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _id uuid;
begin
  perform imagen_private.assert_valid_settings(prompt, width, height, steps, model, style, seed);
  insert into imagen.jobs (prompt, model, width, height, steps, style, seed)
  values (prompt, model, width, height, steps, style, coalesce(seed, imagen_private.try_seed(null, 1)))
  returning id into _id;
  return imagen_private.own_job(_id);
end;
$$;

create or replace function imagen.cancel_series(series_id uuid) returns imagen.series
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  _series := imagen_private.own_series(cancel_series.series_id);
  update imagen.jobs j set status = 'cancelled'
  where j.series_id = _series.id and j.status = 'queued';
  update imagen.jobs j set cancel_requested = true
  where j.series_id = _series.id and j.status = 'running' and not j.cancel_requested;
  return _series;
end;
$$;

create or replace function imagen.cancel_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen_private.own_job(cancel_job.job_id);
begin
  if _job.status = 'queued' then
    update imagen.jobs j set status = 'cancelled' where j.id = _job.id;
  elsif _job.status = 'running' then
    update imagen.jobs j set cancel_requested = true where j.id = _job.id;
  end if;
  return imagen_private.own_job(_job.id);
end;
$$;

create or replace function imagen.retry_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen_private.own_job(retry_job.job_id);
begin
  if _job.status not in ('failed', 'cancelled') then
    raise exception 'job_id % is %, only a failed or cancelled try can be retried',
      retry_job.job_id, _job.status
      using errcode = '22023';
  end if;
  update imagen.jobs j set status = 'queued' where j.id = _job.id;
  perform imagen_private.notify_jobs();
  return imagen_private.own_job(_job.id);
end;
$$;

-- The caller's own limit stays API: a client may show it.
create or replace function imagen.max_unfinished_tries() returns integer
language sql
stable
set search_path = ''
as $$
  select imagen_private.max_unfinished_tries((select auth.uid()))
$$;

-- Triggers and the worker's release_job, unchanged but for the helpers' schema
-- (jobs_enforce_unfinished_cap is rewritten in 20261129090100_imagen_cap_status.sql).
create or replace function imagen.jobs_guard_user_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if imagen_private.caller_is_service() then
    return new;
  end if;
  if new.cancel_requested is distinct from old.cancel_requested then
    if not new.cancel_requested or old.status <> 'running' then
      raise exception 'jobs: cancel_requested can only be set on a running try'
        using errcode = '42501';
    end if;
  end if;
  if new.status is distinct from old.status then
    if old.status = 'queued' and new.status = 'cancelled' then
      new.finished_at := now();
    elsif old.status in ('failed', 'cancelled') and new.status = 'queued' then
      new.attempts := 0;
      new.error := null;
      new.run_after := now();
      new.queued_at := now();
      new.cancel_requested := false;
      new.leased_by := null;
      new.lease_expires_at := null;
      new.progress := 0;
      new.started_at := null;
      new.finished_at := null;
    else
      raise exception 'jobs: a user cannot change status from % to %', old.status, new.status
        using errcode = '42501';
    end if;
  end if;
  return new;
end;
$$;

create or replace function imagen.jobs_match_their_series() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  -- A series the caller cannot see is refused by the insert policy and the foreign key.
  select * into _series from imagen.series s where s.id = new.series_id;
  if found and (
    (new.prompt, new.model, new.width, new.height, new.steps, new.style)
      is distinct from (_series.prompt, _series.model, _series.width, _series.height, _series.steps, _series.style)
    or (_series.base_seed is not null and new.seed <> imagen_private.try_seed(_series.base_seed, new.series_idx))
  ) then
    raise exception 'settings of a try must be those of its series % (prompt, model, width, height, steps, style, seed)',
      new.series_id
      using errcode = '22023';
  end if;
  return new;
end;
$$;

create or replace function imagen.notify_jobs_queued() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform imagen_private.notify_jobs();
  return null;
end;
$$;

create or replace function imagen.release_job(job_id uuid, worker_id text) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen.held_job(release_job.job_id, release_job.worker_id);
begin
  update imagen.jobs j
  set status = case when j.cancel_requested then 'cancelled' else 'queued' end,
      attempts = greatest(j.attempts - 1, 0),
      lease_expires_at = null,
      run_after = now(),
      finished_at = case when j.cancel_requested then now() end
  where j.id = _job.id
  returning * into _job;
  perform imagen_private.notify_jobs();
  return _job;
end;
$$;
