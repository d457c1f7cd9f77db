-- What users call, through PostgREST or the edge function. All SECURITY INVOKER: they write with
-- exactly the user's rights (RLS, column grants), so the tables' rules hold on every path.

-- Queues tries first..last of a series; jobs_take_their_settings gives each its series' kind and
-- settings with its own seed. One statement, so one NOTIFY and one cap check.
create or replace function imagen_private.queue_series_tries(series imagen.series, first_idx integer, last_idx integer)
 returns uuid[]
 language sql
 set search_path to ''
as $$
  with inserted as (
    insert into imagen.jobs (series_id, series_idx)
    select series.id, idx from generate_series(first_idx, last_idx) as idx
    returning id, series_idx
  )
  select array_agg(id order by series_idx) from inserted
$$;
grant execute on function imagen_private.queue_series_tries(imagen.series,integer,integer) to authenticated, service_role;

-- A new series of n tries of this kind with these settings (checked; defaults filled in), as the
-- RPCs return it: the series with its try_ids (and job_ids, their name before, for one release).
create or replace function imagen_private.start_series(kind text, settings jsonb, n integer, parent_image_id uuid)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
  _try_ids uuid[];
begin
  perform imagen_private.assert_tries_of_kind(kind, n);
  insert into imagen.series (kind, settings, count, parent_image_id)
  values (kind, settings, n, parent_image_id)
  returning * into _series;
  _try_ids := imagen_private.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('try_ids', to_jsonb(_try_ids), 'job_ids', to_jsonb(_try_ids));
end;
$$;
grant execute on function imagen_private.start_series(text,jsonb,integer,uuid) to authenticated, service_role;

-- Validates, then inserts the series and its n tries in one transaction; returns the series with
-- its try_ids. settings holds the rest (imagen.settings_rules(): model, width, height, steps,
-- style, seed, ...); a field left out takes its rule's default. Bad input raises 22023 naming the
-- field and writes nothing.
create or replace function imagen.create_series(prompt text, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, settings jsonb default '{}'::jsonb)
 returns jsonb
 language sql
 set search_path to ''
as $$
  select imagen_private.start_series('generate',
    coalesce(create_series.settings, '{}'::jsonb) || jsonb_build_object('prompt', create_series.prompt), n, null);
$$;
comment on function imagen.create_series(text,integer,jsonb) is
  'Creates a series of n tries (limits and defaults: imagen.settings_rules) of one prompt with these settings; returns the series with its try_ids.';
grant execute on function imagen.create_series(text,integer,jsonb) to authenticated, service_role;

-- The settings every kind of work shares (those of no particular kind), without the seed: what a
-- child series (a variation) keeps of the picture it is made from.
create or replace function imagen_private.shared_settings(settings jsonb)
 returns jsonb
 language sql
 immutable
 set search_path to ''
as $$
  select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb)
  from jsonb_each(settings) e
  join imagen.settings_rules() r on r.field = e.key and r.part = 'settings' and r.kinds is null
  where e.key <> 'seed'
$$;
grant execute on function imagen_private.shared_settings(jsonb) to authenticated, service_role;

-- A child series' settings: what every kind shares of its source picture's (prompt, model, size,
-- steps, style, guidance; never the seed), under what the caller gives for the kind. An upscale
-- is factor times its source's size; one over the size rules is refused naming both sizes.
create or replace function imagen_private.child_settings(kind text, source jsonb, given jsonb)
 returns jsonb
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _settings jsonb := imagen_private.shared_settings(source) || coalesce(given, '{}'::jsonb);
  _factor jsonb;
  _width jsonb := imagen_private.settings_rules_by_field() -> 'width';
begin
  if kind = 'upscale' then
    _factor := coalesce(_settings -> 'factor', to_jsonb((imagen_private.settings_rules_by_field() #>> '{factor,default_value}')::integer));
    if jsonb_typeof(_factor) = 'number' and _factor::numeric = trunc(_factor::numeric) and _factor::numeric between 1 and 64 then
      _settings := _settings || jsonb_build_object(
        'factor', _factor,
        'width', (source ->> 'width')::integer * _factor::integer,
        'height', (source ->> 'height')::integer * _factor::integer);
      if greatest((_settings ->> 'width')::integer, (_settings ->> 'height')::integer) > (_width ->> 'max_value')::integer then
        raise exception 'factor %: %x% times % would be %x%, and an upscale may be at most %x%', _factor,
          source ->> 'width', source ->> 'height', _factor, _settings ->> 'width', _settings ->> 'height',
          _width ->> 'max_value', _width ->> 'max_value'
          using errcode = '22023';
      end if;
    end if;
  end if;
  return _settings;
end;
$$;
grant execute on function imagen_private.child_settings(text,jsonb,jsonb) to authenticated, service_role;

-- A child series of n tries of a kind made from one of the caller's pictures (imagen.try_kinds:
-- vary, upscale, edit), its settings the picture's with `settings` over them (the kind's own:
-- strength; factor, refine; mask_path, a new prompt; a seed). n defaults to the kind's
-- default_tries. The same rules, cap and RLS as create_series: bad input raises 22023 naming the
-- field and writes nothing; a picture that is not the caller's is refused as a missing one.
create or replace function imagen.create_from_image(image_id uuid, kind text, n integer default null, settings jsonb default '{}'::jsonb)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _source jsonb;
begin
  if not imagen_private.needs_source(kind) then
    raise exception 'kind must be one of %, got %',
      (select string_agg(k.kind, ', ') from imagen.try_kinds() k where k.needs_source), coalesce(kind, 'null')
      using errcode = '22023';
  end if;
  if jsonb_typeof(coalesce(create_from_image.settings, '{}'::jsonb)) <> 'object' then
    raise exception 'settings must be a JSON object' using errcode = '22023';
  end if;
  select j.settings into _source
  from imagen.images i join imagen.jobs j on j.id = i.job_id
  where i.id = create_from_image.image_id;
  if not found then
    raise exception 'image_id % is not one of your pictures', create_from_image.image_id using errcode = '22023';
  end if;
  return imagen_private.start_series(kind, imagen_private.child_settings(kind, _source, create_from_image.settings),
    coalesce(n, (select k.default_tries from imagen.try_kinds() k where k.kind = create_from_image.kind)),
    create_from_image.image_id);
end;
$$;
comment on function imagen.create_from_image(uuid,text,integer,jsonb) is
  'Creates a child series of n tries of a kind made from one of your pictures (vary, upscale, edit) with these settings over the picture''s; returns it with its try_ids.';
grant execute on function imagen.create_from_image(uuid,text,integer,jsonb) to authenticated, service_role;

-- "Rerun with new seeds": the same request again as a new series, marked as a rerun of this one
-- (series.rerun_of, the gallery's lineage): a series made from a picture is made from it again
-- with its prompt and its kind's settings, any other with its settings; never the seed. SECURITY
-- DEFINER (owned by postgres) to write rerun_of, which users may not; it acts only on the
-- caller's own series, and what it starts is the caller's, under the same rules, cap and checks.
create or replace function imagen.rerun_series(series_id uuid)
 returns jsonb
 language plpgsql
 security definer
 set search_path to ''
as $$
declare
  _from imagen.series;
  _new jsonb;
begin
  select * into _from from imagen.series s
  where s.id = rerun_series.series_id and s.owner_id = (select auth.uid());
  if not found then
    raise exception 'series_id % is not one of your series', rerun_series.series_id using errcode = '22023';
  end if;
  if _from.parent_image_id is not null then
    _new := imagen.create_from_image(_from.parent_image_id, _from.kind, _from.count,
      jsonb_build_object('prompt', _from.settings -> 'prompt') || coalesce((
        select jsonb_object_agg(e.key, e.value) from jsonb_each(_from.settings) e
        join imagen.settings_rules() r on r.field = e.key and r.part = 'settings' and _from.kind = any(r.kinds)
        where e.key <> 'seed'), '{}'::jsonb));
  else
    _new := imagen.create_series(_from.settings ->> 'prompt', _from.count, _from.settings - 'seed');
  end if;
  update imagen.series s set rerun_of = _from.id where s.id = (_new ->> 'id')::uuid;
  return _new || jsonb_build_object('rerun_of', _from.id);
end;
$$;
comment on function imagen.rerun_series(uuid) is
  'Starts the same request as one of your series again with new seeds, as a new series marked as its rerun; returns it with its try_ids.';
grant execute on function imagen.rerun_series(uuid) to authenticated, service_role;

-- "More like this": create_from_image(image_id, 'vary', ...) with its arguments, kept for callers
-- of the first release.
create or replace function imagen.vary_image(image_id uuid, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, strength integer default ((imagen_private.settings_rules_by_field() #>> '{strength,default_value}'::text[]))::integer, seed bigint default null::bigint)
 returns jsonb
 language sql
 set search_path to ''
as $$
  select imagen.create_from_image(vary_image.image_id, 'vary', n,
    jsonb_build_object('strength', vary_image.strength, 'seed', vary_image.seed));
$$;
comment on function imagen.vary_image(uuid,integer,integer,bigint) is
  'Creates a child series of n variations of one of your pictures (image-to-image, new seeds); returns it with its try_ids.';
grant execute on function imagen.vary_image(uuid,integer,integer,bigint) to authenticated, service_role;

-- One try outside any series; it shows in the flat gallery. settings as create_series's.
create or replace function imagen.submit_job(prompt text, settings jsonb default '{}'::jsonb)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
as $$
declare
  _id uuid;
begin
  insert into imagen.jobs (kind, settings)
  values ('generate', coalesce(submit_job.settings, '{}'::jsonb) || jsonb_build_object('prompt', submit_job.prompt))
  returning id into _id;
  return imagen_private.own_job(_id);
end;
$$;
grant execute on function imagen.submit_job(text,jsonb) to authenticated, service_role;

-- Adds n more tries to one of the caller's series, up to n's maximum in all.
create or replace function imagen.add_tries(series_id uuid, n integer)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _n jsonb := imagen_private.settings_rules_by_field() -> 'n';
  _series imagen.series;
  _first integer;
  _try_ids uuid[];
begin
  perform imagen_private.assert_valid_n(n);
  select * into _series from imagen.series s where s.id = add_tries.series_id for update;
  if not found then
    raise exception 'series_id % is not one of your series', add_tries.series_id
      using errcode = '22023';
  end if;
  if _series.count + n > (_n ->> 'max_value')::integer then
    raise exception '%', format(_n ->> 'grow_rule', _series.count) using errcode = '22023';
  end if;
  _first := _series.count + 1;
  update imagen.series s set count = s.count + n where s.id = _series.id returning * into _series;
  _try_ids := imagen_private.queue_series_tries(_series, _first, _series.count);
  return to_jsonb(_series) || jsonb_build_object('try_ids', to_jsonb(_try_ids), 'job_ids', to_jsonb(_try_ids));
end;
$$;
grant execute on function imagen.add_tries(uuid,integer) to authenticated, service_role;

-- Stops a series' unfinished tries, in one statement: queued ones cancelled at once, running ones
-- flagged for their worker. One statement takes every try's row lock before any trigger runs, so
-- it waits for a worker finishing a try of the series before the series.done check's lock
-- (95_webhooks.sql), in the order the worker takes them; and a try claimed meanwhile is flagged.
-- SECURITY INVOKER: it runs as the caller, under RLS.
create or replace function imagen_private.stop_series_tries(series_id uuid)
 returns void
 language sql
 set search_path to ''
as $$
  update imagen.jobs j
  set status = case when j.status = 'queued' then 'cancelled' else j.status end,
      cancel_requested = j.cancel_requested or j.status = 'running'
  where j.series_id = stop_series_tries.series_id
    and (j.status = 'queued' or (j.status = 'running' and not j.cancel_requested));
$$;
grant execute on function imagen_private.stop_series_tries(uuid) to authenticated, service_role;

-- Picks the winner; the foreign key refuses an image of another series.
create or replace function imagen.select_image(series_id uuid, image_id uuid, stop_rest boolean default false)
 returns imagen.series
 language plpgsql
 set search_path to ''
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
  if coalesce(select_image.stop_rest, false) then
    perform imagen_private.stop_series_tries(_series.id);
  end if;
  return _series;
exception
  when foreign_key_violation then
    raise exception 'image_id % is not an image of series %', select_image.image_id, select_image.series_id
      using errcode = '22023';
end;
$$;
grant execute on function imagen.select_image(uuid,uuid,boolean) to authenticated, service_role;

-- Marks (or unmarks) one of the caller's series as a favourite.
create or replace function imagen.set_favourite(series_id uuid, favourite boolean)
 returns imagen.series
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
begin
  if favourite is null then
    raise exception 'favourite must be true or false, got null' using errcode = '22023';
  end if;
  update imagen.series s set favourite = set_favourite.favourite
  where s.id = set_favourite.series_id
  returning * into _series;
  if not found then
    raise exception 'series_id % is not one of your series', set_favourite.series_id using errcode = '22023';
  end if;
  return _series;
end;
$$;
grant execute on function imagen.set_favourite(uuid,boolean) to authenticated, service_role;

-- Cancels one try (solo or in a series) the same way.
create or replace function imagen.cancel_job(job_id uuid)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
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
grant execute on function imagen.cancel_job(uuid) to authenticated, service_role;

-- Queued tries become cancelled at once; running ones are flagged and stopped by the worker.
create or replace function imagen.cancel_series(series_id uuid)
 returns imagen.series
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
begin
  _series := imagen_private.own_series(cancel_series.series_id);
  perform imagen_private.stop_series_tries(_series.id);
  return _series;
end;
$$;
grant execute on function imagen.cancel_series(uuid) to authenticated, service_role;

-- Sends a failed or cancelled try back to the queue with fresh attempts.
create or replace function imagen.retry_job(job_id uuid)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
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
grant execute on function imagen.retry_job(uuid) to authenticated, service_role;

