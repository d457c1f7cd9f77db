-- What a signed-in user does, as RPCs over PostgREST. SECURITY INVOKER: RLS, column grants and
-- the job guard apply exactly as to a direct query; the functions add validation with clear
-- errors (SQLSTATE 22023 naming the field) and atomic multi-row work.

-- Raises 22023 naming the first bad field; shared by every RPC that takes render settings.
create function imagen.assert_valid_settings(
  prompt text, width integer, height integer, steps integer, model text, style text, seed bigint
) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if prompt is null or prompt !~ '[^[:space:]]' then
    raise exception 'prompt must not be empty' using errcode = '22023';
  end if;
  if length(prompt) > 2000 then
    raise exception 'prompt must be at most 2000 characters, got %', length(prompt)
      using errcode = '22023';
  end if;
  if model is null or btrim(model) = '' or length(model) > 200 then
    raise exception 'model must be a model id of 1 to 200 characters' using errcode = '22023';
  end if;
  if width is null or width not between 256 and 2048 or width % 16 <> 0 then
    raise exception 'width must be a multiple of 16 between 256 and 2048, got %', width
      using errcode = '22023';
  end if;
  if height is null or height not between 256 and 2048 or height % 16 <> 0 then
    raise exception 'height must be a multiple of 16 between 256 and 2048, got %', height
      using errcode = '22023';
  end if;
  if steps is null or steps not between 1 and 50 then
    raise exception 'steps must be between 1 and 50, got %', steps using errcode = '22023';
  end if;
  if length(style) > 200 then
    raise exception 'style must be at most 200 characters' using errcode = '22023';
  end if;
  if seed not between 0 and 4294967295 then
    raise exception 'seed must be between 0 and 4294967295, got %', seed using errcode = '22023';
  end if;
end;
$$;

-- The caller's own series / try (RLS hides everyone else's), or 22023 naming the id.
create function imagen.own_series(series_id uuid) returns imagen.series
language plpgsql
stable
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  select * into _series from imagen.series s where s.id = own_series.series_id;
  if not found then
    raise exception 'series_id % is not one of your series', own_series.series_id using errcode = '22023';
  end if;
  return _series;
end;
$$;

create function imagen.own_job(job_id uuid) returns imagen.jobs
language plpgsql
stable
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  select * into _job from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;

-- The seed of try idx: base + idx - 1 (wrapping at 2^32) when a base is given, random otherwise.
create function imagen.try_seed(base_seed bigint, idx integer) returns bigint
language sql
volatile
set search_path = ''
as $$
  select case
    when base_seed is null then floor(random() * 4294967296)::bigint
    else (base_seed + idx - 1) % 4294967296
  end
$$;

-- Queues tries first..last of a series with the series' settings; one statement, so one
-- NOTIFY and one cap check.
create function imagen.queue_series_tries(series imagen.series, first_idx integer, last_idx integer)
returns uuid[]
language sql
set search_path = ''
as $$
  with inserted as (
    insert into imagen.jobs (series_id, series_idx, prompt, model, width, height, steps, style, seed)
    select series.id, idx, series.prompt, series.model, series.width, series.height, series.steps,
           series.style, imagen.try_seed(series.base_seed, idx)
    from generate_series(first_idx, last_idx) as idx
    returning id, series_idx
  )
  select array_agg(id order by series_idx) from inserted
$$;

create function imagen.create_series(
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
  perform imagen.assert_valid_settings(prompt, width, height, steps, model, style, seed);

  insert into imagen.series (prompt, model, width, height, steps, style, base_seed, count)
  values (prompt, model, width, height, steps, style, seed, n)
  returning * into _series;
  _job_ids := imagen.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;
comment on function imagen.create_series is
  'Creates a series of n (1..10) tries of one prompt; returns the series with its job_ids.';

-- Adds n more tries to one of the caller's series, up to 10 in all.
create function imagen.add_tries(series_id uuid, n integer) returns jsonb
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
  _job_ids := imagen.queue_series_tries(_series, _first, _series.count);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;

-- One try outside any series; it shows in the flat gallery.
create function imagen.submit_job(
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
  _job imagen.jobs;
begin
  perform imagen.assert_valid_settings(prompt, width, height, steps, model, style, seed);
  insert into imagen.jobs (prompt, model, width, height, steps, style, seed)
  values (prompt, model, width, height, steps, style, coalesce(seed, imagen.try_seed(null, 1)))
  returning * into _job;
  return _job;
end;
$$;

-- Picks the winner; the foreign key refuses an image of another series.
create function imagen.select_image(series_id uuid, image_id uuid) returns imagen.series
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  update imagen.series s set selected_image_id = select_image.image_id
  where s.id = select_image.series_id
  returning * into _series;
  if not found then
    raise exception 'series_id % is not one of your series', select_image.series_id
      using errcode = '22023';
  end if;
  return _series;
exception
  when foreign_key_violation then
    raise exception 'image_id % is not an image of series %', select_image.image_id, select_image.series_id
      using errcode = '22023';
end;
$$;

-- Queued tries become cancelled at once; running ones are flagged and stopped by the worker.
create function imagen.cancel_series(series_id uuid) returns imagen.series
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  _series := imagen.own_series(cancel_series.series_id);
  update imagen.jobs j set status = 'cancelled'
  where j.series_id = _series.id and j.status = 'queued';
  update imagen.jobs j set cancel_requested = true
  where j.series_id = _series.id and j.status = 'running' and not j.cancel_requested;
  return _series;
end;
$$;

-- Cancels one try (solo or in a series) the same way.
create function imagen.cancel_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  _job := imagen.own_job(cancel_job.job_id);
  if _job.status = 'queued' then
    update imagen.jobs j set status = 'cancelled' where j.id = _job.id returning * into _job;
  elsif _job.status = 'running' then
    update imagen.jobs j set cancel_requested = true where j.id = _job.id returning * into _job;
  end if;
  return _job;
end;
$$;

-- Sends a failed or cancelled try back to the queue with fresh attempts.
create function imagen.retry_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  _job := imagen.own_job(retry_job.job_id);
  if _job.status not in ('failed', 'cancelled') then
    raise exception 'job_id % is %, only a failed or cancelled try can be retried',
      retry_job.job_id, _job.status
      using errcode = '22023';
  end if;
  update imagen.jobs j set status = 'queued' where j.id = _job.id returning * into _job;
  perform pg_notify('imagen_jobs', '');
  return _job;
end;
$$;

-- Nothing in imagen is callable by anon; users get exactly the functions below.
revoke execute on all functions in schema imagen from public, anon;

grant execute on function
  imagen.assert_valid_settings(text, integer, integer, integer, text, text, bigint),
  imagen.try_seed(bigint, integer),
  imagen.queue_series_tries(imagen.series, integer, integer),
  imagen.own_series(uuid),
  imagen.own_job(uuid),
  imagen.create_series(text, integer, text, integer, integer, integer, text, bigint),
  imagen.add_tries(uuid, integer),
  imagen.submit_job(text, text, integer, integer, integer, text, bigint),
  imagen.select_image(uuid, uuid),
  imagen.cancel_series(uuid),
  imagen.cancel_job(uuid),
  imagen.retry_job(uuid)
to authenticated, service_role;
