-- A try is one value (issue 30). The render settings, copied as loose columns series -> jobs ->
-- images and checked by CHECKs that called the rule functions on every write of a row, become one
-- jsonb `settings` per series and per try, with a `kind` of work (generate, vary); pictures read
-- their settings through their try. One generic check (imagen_private.settings_problem) applies
-- the rules' rows from triggers on insert and when the value changes, never on a status, lease or
-- progress write. The try's state rules (runnable, waiting, rendering, ending; unfinished) are
-- stated once (imagen_private.try_state, unfinished_statuses) and the claim, the queue places,
-- the autoscaler's count and the operator's overview ask them. The claim serves a worker only the
-- models and kinds it declares. RPCs answer try_ids (job_ids kept for one release).
-- The definitions: supabase/schemas/10_settings_rules.sql, 25_try_states.sql, 40_user_rpcs.sql,
-- 50_worker_rpcs.sql, 60_triggers_events.sql, 80_queue.sql, 90_*.sql.

-- The checks that ran the rules on every write, and the functions and triggers they used.
alter table imagen.series drop constraint series_count_range;
alter table imagen.series drop constraint series_strength_valid;
alter table imagen.series drop constraint series_variation_has_strength;
alter table imagen.series drop constraint series_settings_valid;
alter table imagen.jobs drop constraint jobs_series_idx_range;
alter table imagen.jobs drop constraint jobs_strength_valid;
alter table imagen.jobs drop constraint jobs_settings_valid;
drop trigger jobs_match_their_series on imagen.jobs;
drop function imagen.jobs_match_their_series();
drop trigger jobs_take_their_source on imagen.jobs;
drop function imagen.jobs_take_their_source();
drop function imagen_private.assert_valid_settings(text,integer,integer,integer,text,text,bigint);
drop function imagen_private.settings_problem(text,text,integer,integer,integer,text,bigint);
drop function imagen_private.strength_problem(integer);
drop function imagen.create_series(text,integer,text,integer,integer,integer,text,bigint);
drop function imagen.submit_job(text,text,integer,integer,integer,text,bigint);
drop function imagen.claim_job(text,double precision,uuid);
drop function imagen.claim_next(text,double precision,uuid);
drop function imagen.queue_places();
drop view imagen.queue;
drop function imagen.settings_rules();

-- The new columns, filled from the old ones with nothing lost: a series or try with a strength
-- (or a parent picture) is a variation; a series' seed is its base seed.
alter table imagen.series add column kind text not null default 'generate';
alter table imagen.series add column settings jsonb not null default '{}'::jsonb;
alter table imagen.jobs add column kind text not null default 'generate';
alter table imagen.jobs add column settings jsonb not null default '{}'::jsonb;

-- Moving the values is not an event: no updated_at stamp, no webhook, no cap check.
alter table imagen.series disable trigger user;
alter table imagen.jobs disable trigger user;
update imagen.series s
set kind = case when s.parent_image_id is not null or s.strength is not null then 'vary' else 'generate' end,
    settings = jsonb_strip_nulls(jsonb_build_object(
      'prompt', s.prompt, 'model', s.model, 'width', s.width, 'height', s.height, 'steps', s.steps,
      'style', s.style, 'seed', s.base_seed, 'strength', s.strength));
update imagen.jobs j
set kind = case when j.strength is not null then 'vary' else 'generate' end,
    settings = jsonb_strip_nulls(jsonb_build_object(
      'prompt', j.prompt, 'model', j.model, 'width', j.width, 'height', j.height, 'steps', j.steps,
      'style', j.style, 'seed', j.seed, 'strength', j.strength, 'source_path', j.source_path));
alter table imagen.series enable trigger user;
alter table imagen.jobs enable trigger user;

alter table imagen.series
  drop column prompt, drop column model, drop column width, drop column height, drop column steps,
  drop column style, drop column base_seed, drop column strength;
alter table imagen.jobs
  drop column prompt, drop column model, drop column width, drop column height, drop column steps,
  drop column style, drop column seed, drop column strength, drop column source_path;
alter table imagen.images
  drop column prompt, drop column model, drop column width, drop column height, drop column steps,
  drop column style, drop column seed;

alter table imagen.series
  add constraint series_only_a_variation_has_a_parent check (parent_image_id is null or kind <> 'generate');
comment on table imagen.images is 'One per finished try; series_id copied from its job, settings read through it.';
comment on column imagen.series.settings is 'What every try of the series is rendered with (imagen.settings_rules): prompt, model, size, steps, style, base seed, a variation''s strength.';
comment on column imagen.jobs.settings is 'What the try is rendered with (imagen.settings_rules); a series'' try takes its series'' settings and its own seed.';

-- Column grants (not carried by a diff): the new columns, as 30_security.sql says.
grant insert (kind, settings) on imagen.series to authenticated;
grant select (kind, settings) on imagen.jobs to authenticated;
grant insert (kind, settings) on imagen.jobs to authenticated;

-- The rules, their generic check and the state rules (10_settings_rules.sql, 25_try_states.sql).
-- Every field's rule, published. The one place these numbers and words are written.
--   part: 'request' (n: how many tries, not a setting of one), 'settings' (what a user gives),
--         'derived' (written by the database for the worker: a variation's source_path).
--   kind: how the value is typed and checked: integer, decimal, choice, text, picture.
--   kinds: the kinds of work it belongs to (NULL: every kind); a setting of another kind is refused.
--   required: a try of those kinds must have it (after defaults are filled in).
--   label, unit, step, position, form: what a generated form shows, in position order.
--   rule: the refusal's words; empty_rule: a missing or blank value where that is said otherwise;
--   grow_rule: add_tries past n's maximum (%s: the series' count); strong_value: the strong choice
--   the web app offers beside the default (strength).
create or replace function imagen.settings_rules()
 returns table(field text, part text, kind text, kinds text[], required boolean, label text, unit text, step numeric, "position" integer, form boolean, min_value numeric, max_value numeric, multiple_of integer, max_chars integer, choices text[], default_value text, rule text, empty_rule text, grow_rule text, strong_value numeric)
 language sql
 immutable
 set search_path to ''
as $$
  select l.field, l.part, l.kind, l.kinds, l.required, l.label, l.unit, l.step, l.position, l.form,
         l.min_value, l.max_value, l.multiple_of, l.max_chars, l.choices, l.default_value,
         case
           when l.field = 'model' then format('%s must be a model id of 1 to %s characters', l.field, l.max_chars)
           when l.kind = 'text' then format('%s must be at most %s characters', l.field, l.max_chars)
           when l.kind = 'choice' then format('%s must be one of %s', l.field, array_to_string(l.choices, ', '))
           when l.kind = 'picture' then format('%s must be a picture of yours', l.field)
           when l.multiple_of is not null
             then format('%s must be a multiple of %s between %s and %s', l.field, l.multiple_of, l.min_value, l.max_value)
           else format('%s must be between %s and %s', l.field, l.min_value, l.max_value)
         end,
         case when l.field = 'prompt' then format('%s must not be empty', l.field) end,
         case when l.field = 'n'
           then format('%s too large: the series has %%s tries and may have at most %s', l.field, l.max_value)
         end,
         l.strong_value
  from (values
    ('n', 'request', 'integer', null::text[], true, 'Tries', null::text, 1::numeric, 10, true, 1::numeric, 10::numeric, null::integer, null::integer, null::text[], '4'::text, null::numeric),
    ('prompt', 'settings', 'text', null, true, 'Prompt', null, null, 20, true, null, null, null, 2000, null, null, null),
    ('model', 'settings', 'text', null, true, 'Model', null, null, 30, false, null, null, null, 200, null, 'black-forest-labs/FLUX.1-schnell', null),
    ('width', 'settings', 'integer', null, true, 'Width', 'px', 16, 40, true, 256, 2048, 16, null, null, '1024', null),
    ('height', 'settings', 'integer', null, true, 'Height', 'px', 16, 50, true, 256, 2048, 16, null, null, '1024', null),
    ('steps', 'settings', 'integer', null, true, 'Steps', null, 1, 60, true, 1, 50, null, null, null, '4', null),
    ('style', 'settings', 'text', null, false, 'Style', null, null, 80, true, null, null, null, 200, null, null, null),
    ('seed', 'settings', 'integer', null, false, 'Seed', null, 1, 90, true, 0, 4294967295, null, null, null, null, null),
    ('strength', 'settings', 'integer', '{vary}', true, 'Strength', '%', 5, 100, true, 5, 95, null, null, null, '35', 70),
    ('source_path', 'derived', 'picture', '{vary}', false, 'Source picture', null, null, 110, false, null, null, null, null, null, null, null)
  ) as l(field, part, kind, kinds, required, label, unit, step, position, form, min_value, max_value, multiple_of, max_chars, choices, default_value, strong_value)
$$;
grant execute on function imagen.settings_rules() to authenticated, service_role;

-- The kinds of work a try can be, and whether one needs a source picture. A renderer is chosen
-- by kind (the worker's `Renderer.kind`); a kind with a source is made from one of the user's
-- pictures (vary_image), never queued on its own.
create or replace function imagen.try_kinds()
 returns table(kind text, needs_source boolean, label text)
 language sql
 immutable
 set search_path to ''
as $$
  select * from (values
    ('generate', false, 'New picture'),
    ('vary', true, 'Variation')
  ) as k(kind, needs_source, label)
$$;
grant execute on function imagen.try_kinds() to authenticated, service_role;

-- The same rules as one jsonb value, field -> rule, for the RPCs that read one field's rule.
create or replace function imagen_private.settings_rules_by_field()
 returns jsonb
 language sql
 immutable
 set search_path to ''
as $$
  select jsonb_object_agg(r.field, to_jsonb(r) - 'field') from imagen.settings_rules() r
$$;
grant execute on function imagen_private.settings_rules_by_field() to authenticated, service_role;

-- The settings of a try of this kind with every missing field that has a default filled in. A
-- field given as null stays null (the check then refuses it if it is required).
create or replace function imagen_private.settings_with_defaults(kind text, settings jsonb)
 returns jsonb
 language sql
 immutable
 set search_path to ''
as $$
  select coalesce(jsonb_object_agg(r.field, case when r.kind in ('integer', 'decimal')
                                                 then to_jsonb(r.default_value::numeric)
                                                 else to_jsonb(r.default_value) end), '{}'::jsonb)
         || coalesce(settings_with_defaults.settings, '{}'::jsonb)
  from imagen.settings_rules() r
  where r.part <> 'request' and r.default_value is not null
    and (r.kinds is null or settings_with_defaults.kind = any(r.kinds))
$$;
grant execute on function imagen_private.settings_with_defaults(text,jsonb) to authenticated, service_role;

-- What is wrong with these settings for a try of this kind, as a message that starts with the
-- field's name; NULL if nothing is. Unknown fields and fields of another kind are refused, so a
-- typo is never silently ignored. Numbers must be JSON numbers, texts JSON strings.
create or replace function imagen_private.settings_problem(kind text, settings jsonb)
 returns text
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _rule record;
  _key text;
  _value jsonb;
  _number numeric;
begin
  if not exists (select from imagen.try_kinds() k where k.kind = settings_problem.kind) then
    return format('kind must be one of %s, got %s',
                  (select string_agg(k.kind, ', ') from imagen.try_kinds() k), coalesce(kind, 'null'));
  end if;
  if jsonb_typeof(settings) is distinct from 'object' then
    return 'settings must be a JSON object';
  end if;
  select k into _key from jsonb_object_keys(settings) k
  where not exists (select from imagen.settings_rules() r
                    where r.field = k and r.part <> 'request' and (r.kinds is null or settings_problem.kind = any(r.kinds)))
  order by k limit 1;
  if _key is not null then
    return format('%s is not a setting of a %s try', _key, kind);
  end if;
  for _rule in
    select * from imagen.settings_rules() r
    where r.part <> 'request' and (r.kinds is null or settings_problem.kind = any(r.kinds))
    order by r.position
  loop
    _value := settings -> _rule.field;
    if _value is null or _value = 'null'::jsonb then
      if _rule.required then
        return coalesce(_rule.empty_rule, case when _rule.kind in ('text', 'picture') then _rule.rule
                                               else _rule.rule || ', got null' end);
      end if;
      continue;
    end if;
    if _rule.kind in ('integer', 'decimal') then
      if jsonb_typeof(_value) <> 'number' then
        return format('%s, got %s', _rule.rule, _value);
      end if;
      _number := _value::numeric;
      if _number not between _rule.min_value and _rule.max_value
         or (_rule.kind = 'integer' and (_number <> trunc(_number) or _number % coalesce(_rule.multiple_of, 1) <> 0)) then
        return format('%s, got %s', _rule.rule, _value);
      end if;
    elsif jsonb_typeof(_value) <> 'string' then
      return format('%s, got %s', _rule.rule, _value);
    elsif _rule.kind = 'choice' then
      if not (_value #>> '{}') = any(_rule.choices) then
        return format('%s, got %s', _rule.rule, _value);
      end if;
    elsif _rule.kind = 'text' then
      if _rule.required and (_value #>> '{}') !~ '[^[:space:]]' then
        return coalesce(_rule.empty_rule, _rule.rule);
      end if;
      if length(_value #>> '{}') > _rule.max_chars then
        return case when _rule.field = 'model' then _rule.rule
                    else format('%s, got %s', _rule.rule, length(_value #>> '{}')) end;
      end if;
    end if;
  end loop;
  return null;
end;
$$;
grant execute on function imagen_private.settings_problem(text,jsonb) to authenticated, service_role;

-- Settings as a user gives them, with defaults filled in and integers written as integers, or
-- 22023 naming the first bad field.
-- A derived field is the database's to write, never a user's.
create or replace function imagen_private.checked_settings(kind text, settings jsonb)
 returns jsonb
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _settings jsonb := imagen_private.settings_with_defaults(kind, settings);
  _problem text := coalesce(
    (select format('%s is written by the database, not given', r.field)
     from imagen.settings_rules() r
     where r.part = 'derived' and jsonb_typeof(settings) = 'object' and settings ? r.field
     order by r.position limit 1),
    imagen_private.settings_problem(kind, _settings));
begin
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
  -- An integer written 512.0 or 5.12e2 is kept as 512: what reads it (the worker, the PNG) sees
  -- the number the rule allowed.
  return jsonb_strip_nulls(_settings) || coalesce((
    select jsonb_object_agg(r.field, (_settings ->> r.field)::numeric::bigint)
    from imagen.settings_rules() r
    where r.kind = 'integer' and jsonb_typeof(_settings -> r.field) = 'number'), '{}'::jsonb);
end;
$$;
grant execute on function imagen_private.checked_settings(text,jsonb) to authenticated, service_role;

-- n tries of one request: 22023 with n's rule otherwise.
create or replace function imagen_private.assert_valid_n(n integer)
 returns void
 language plpgsql
 immutable
 set search_path to ''
as $$
declare
  _n jsonb := imagen_private.settings_rules_by_field() -> 'n';
begin
  if n is null or n not between (_n ->> 'min_value')::integer and (_n ->> 'max_value')::integer then
    raise exception '%, got %', _n ->> 'rule', coalesce(n::text, 'null')
      using errcode = '22023';
  end if;
end;
$$;
grant execute on function imagen_private.assert_valid_n(integer) to authenticated, service_role;

-- The seed of try idx: base + idx - 1 (wrapping at 2^32) when a base is given, random otherwise.
create or replace function imagen_private.try_seed(base_seed bigint, idx integer)
 returns bigint
 language sql
 set search_path to ''
as $$
  select case
    when base_seed is null then floor(random() * 4294967296)::bigint
    else (base_seed + idx - 1) % 4294967296
  end
$$;
grant execute on function imagen_private.try_seed(bigint,integer) to authenticated, service_role;

-- The statuses of a try that is not finished: it counts against its owner's cap, screens follow
-- it live. Every other status is finished: nothing more happens unless someone retries it. An
-- array, so `status = any(imagen_private.unfinished_statuses())` folds to a constant and uses the
-- status indexes.
create or replace function imagen_private.unfinished_statuses()
 returns text[]
 language sql
 immutable
 set search_path to ''
as $$
  select '{queued,running}'::text[]
$$;
grant execute on function imagen_private.unfinished_statuses() to authenticated, service_role;

-- Where a try stands now, as the claim treats it:
--   runnable  - a claim hands it out now: queued and due, or running on an expired lease with
--               attempts left and no cancel asked (the claim puts it back in the queue first);
--   waiting   - queued, waiting out a retry's backoff (run_after);
--   rendering - running on a live lease;
--   ending    - running on an expired lease, out of attempts or cancelled: the next claim ends it;
--   done, failed, cancelled - finished.
create or replace function imagen_private.try_state(try imagen.jobs)
 returns text
 language sql
 stable
 set search_path to ''
as $$
  select case
    when try.status = 'queued' then case when try.run_after <= now() then 'runnable' else 'waiting' end
    when try.status = 'running' then case
      when try.lease_expires_at >= now() then 'rendering'
      when try.cancel_requested or try.attempts >= try.max_attempts then 'ending'
      else 'runnable'
    end
    else try.status
  end
$$;
grant execute on function imagen_private.try_state(imagen.jobs) to authenticated, service_role;

-- A worker is wanted for it: runnable, waiting out a backoff, or rendering. What an autoscaler
-- counts, so that a scale-down never takes a worker from a render in progress.
create or replace function imagen_private.wants_a_worker(try imagen.jobs)
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select imagen_private.try_state(try) in ('runnable', 'waiting', 'rendering')
$$;
grant execute on function imagen_private.wants_a_worker(imagen.jobs) to authenticated, service_role;

-- A worker that declares these models and kinds (NULL: any) may render this try.
create or replace function imagen_private.serves(try imagen.jobs, models text[], kinds text[])
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select (models is null or try.settings ->> 'model' = any(models)) and (kinds is null or try.kind = any(kinds))
$$;
grant execute on function imagen_private.serves(imagen.jobs,text[],text[]) to authenticated, service_role;

-- own_job builds the new row (30_security.sql).
-- The caller's own try (RLS hides everyone else's), or 22023 naming the id: every column of
-- imagen.jobs in order, the worker's (leased_by, claim_id) as NULL.
create or replace function imagen_private.own_job(job_id uuid)
 returns imagen.jobs
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _job imagen.jobs;
begin
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.cancel_requested, j.attempts,
         j.max_attempts, j.run_after, null, j.lease_expires_at, j.progress, j.error, j.image_id,
         j.created_at, j.started_at, j.finished_at, j.updated_at, j.queued_at, null::uuid, j.kind,
         j.settings
  into _job
  from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;
grant execute on function imagen_private.own_job(uuid) to authenticated, service_role;

-- What users call (40_user_rpcs.sql).
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
  perform imagen_private.assert_valid_n(n);
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

-- "More like this": a child series of n variations of one of the caller's pictures (its prompt and
-- settings, new seeds unless one is given), each rendered from that picture with `strength`
-- percent of it anew. The same rules, cap and RLS as create_series: bad input raises 22023 naming
-- the field and writes nothing.
create or replace function imagen.vary_image(image_id uuid, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, strength integer default ((imagen_private.settings_rules_by_field() #>> '{strength,default_value}'::text[]))::integer, seed bigint default null::bigint)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _source jsonb;
begin
  select j.settings into _source
  from imagen.images i join imagen.jobs j on j.id = i.job_id
  where i.id = vary_image.image_id;
  if not found then
    raise exception 'image_id % is not one of your pictures', vary_image.image_id using errcode = '22023';
  end if;
  return imagen_private.start_series('vary',
    imagen_private.shared_settings(_source)
      || jsonb_build_object('strength', vary_image.strength, 'seed', vary_image.seed),
    n, vary_image.image_id);
end;
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

-- What the worker calls (50_worker_rpcs.sql).
-- The claim, in one write per try. Expired leases first (back to the queue, or failed/cancelled,
-- as imagen_private.try_state says); then, in the queue order (imagen_private.turn_order and
-- line_order), the first owner with a runnable try this worker serves (its models and kinds; NULL:
-- any), and that owner's first such try. Only owners with queued tries are walked
-- (owner_turns_turn_idx), so owners long idle cost nothing. The owner's turn moves by the
-- jobs_note_owner_turn trigger; claim_id is recorded in the update, so a try costs one row
-- version and one Realtime event. `status = 'queued'` and the lease's expiry are the indexes'
-- access paths; try_state decides.
create or replace function imagen.claim_next(worker_id text, lease_seconds double precision, claim_id uuid, models text[] default null::text[], kinds text[] default null::text[])
 returns setof imagen.jobs
 language plpgsql
 set search_path to ''
 set enable_sort to 'off'
as $$
begin
  if worker_id is null or btrim(worker_id) = '' then
    raise exception 'worker_id must not be empty' using errcode = '22023';
  end if;
  if lease_seconds is null or lease_seconds <= 0 then
    raise exception 'lease_seconds must be positive' using errcode = '22023';
  end if;

  -- Expired leases: the holder crashed or hung. A runnable one goes back to the front of the
  -- queue; an ending one ends, cancelled if that was asked, failed otherwise.
  update imagen.jobs j
  set status = case
        when imagen_private.try_state(j) = 'runnable' then 'queued'
        when j.cancel_requested then 'cancelled'
        else 'failed'
      end,
      error = case
        when imagen_private.try_state(j) = 'ending' and not j.cancel_requested
          then format('the worker rendering it stopped answering (%s of %s attempts)', j.attempts, j.max_attempts)
        else j.error
      end,
      finished_at = case when imagen_private.try_state(j) = 'ending' then now() end,
      lease_expires_at = null
  where j.id in (
    select e.id from imagen.jobs e
    where e.status = 'running' and e.lease_expires_at < now()
    for update skip locked
  );

  return query
  update imagen.jobs j
  set status = 'running',
      attempts = j.attempts + 1,
      leased_by = claim_next.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = 0,
      started_at = now(),
      claim_id = claim_next.claim_id
  where j.id = (
    select c.id
    from imagen.owner_turns t
    cross join lateral (
      select q.id from imagen.jobs q
      where q.owner_id = t.owner_id and q.status = 'queued'
        and imagen_private.try_state(q) = 'runnable'
        and imagen_private.serves(q, claim_next.models, claim_next.kinds)
      order by imagen_private.line_order(q.queued_at, q.series_idx, q.id)
      limit 1
      for update of q skip locked
    ) c
    where t.queued_tries > 0
    order by imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
    limit 1
  )
  returning j.*;
end;
$$;
grant execute on function imagen.claim_next(text,double precision,uuid,text[],text[]) to service_role;

-- The next try in fair turns (claim_next), for callers that name no claim.
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
 returns setof imagen.jobs
 language sql
 set search_path to ''
as $$
  select * from imagen.claim_next(worker_id, lease_seconds, null);
$$;
grant execute on function imagen.claim_job(text,double precision) to service_role;

-- A claim whose answer never arrived (a gateway timeout after the commit) must not strand its
-- try: the worker names each claim and sends the same id when it retries; a retry hands back what
-- the first attempt took. claim_id has no default, so PostgREST picks this one only when named.
-- models and kinds: what this worker renders (NULL: anything).
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision, claim_id uuid, models text[] default null::text[], kinds text[] default null::text[])
 returns setof imagen.jobs
 language plpgsql
 set search_path to ''
as $$
begin
  if claim_id is null then
    raise exception 'claim_id must not be null' using errcode = '22023';
  end if;
  -- A retried claim: the first attempt committed, its answer was lost. Hand the try back.
  return query
  update imagen.jobs j set lease_expires_at = now() + make_interval(secs => lease_seconds)
  where j.claim_id = claim_job.claim_id and j.status = 'running' and j.leased_by = claim_job.worker_id
  returning j.*;
  if found then
    return;
  end if;
  return query select * from imagen.claim_next(claim_job.worker_id, claim_job.lease_seconds, claim_job.claim_id,
                                               claim_job.models, claim_job.kinds);
end;
$$;
grant execute on function imagen.claim_job(text,double precision,uuid,text[],text[]) to service_role;

-- Records the stored picture and finishes the try, in one transaction. Calling it again after
-- success (say, the reply was lost) returns the same image; only the lease holder may call it.
-- Returns NULL if the user cancelled the try meanwhile.
create or replace function imagen.complete_job(job_id uuid, worker_id text, bucket text, path text, bytes integer, mime text default 'image/png'::text)
 returns imagen.images
 language plpgsql
 set search_path to ''
as $$
declare
  _job imagen.jobs;
  _image imagen.images;
begin
  _job := imagen.held_job(complete_job.job_id, complete_job.worker_id);
  if _job.cancel_requested then
    -- Cancelled while it rendered: no image. NULL (not an error, which would undo this update)
    -- tells the worker to drop what it stored.
    update imagen.jobs j set status = 'cancelled', lease_expires_at = null, finished_at = now()
    where j.id = _job.id;
    return null;
  end if;

  insert into imagen.images (job_id, owner_id, series_id, bucket, path, bytes, mime)
  values (_job.id, _job.owner_id, _job.series_id, complete_job.bucket, complete_job.path,
          complete_job.bytes, complete_job.mime)
  returning * into _image;

  update imagen.jobs j
  set status = 'done', image_id = _image.id, progress = (j.settings ->> 'steps')::integer, error = null,
      lease_expires_at = null, finished_at = now()
  where j.id = _job.id;
  return _image;
exception
  -- Already done by this very worker: the same image again. Gone with its series: cancelled.
  when sqlstate 'IL001' then
    if not exists (select from imagen.jobs j where j.id = complete_job.job_id) then
      return null;
    end if;
    select i.* into _image from imagen.jobs j join imagen.images i on i.id = j.image_id
    where j.id = complete_job.job_id and j.status = 'done' and j.leased_by = complete_job.worker_id;
    if not found then
      raise;
    end if;
    return _image;
end;
$$;
grant execute on function imagen.complete_job(uuid,text,text,text,integer,text) to service_role;

-- Triggers (60_triggers_events.sql).
-- The cap on a user's unfinished tries (imagen.limits), checked once per statement. Its SQLSTATE
-- is PT429: PostgREST answers HTTP 429; DETAIL carries the numbers as JSON for clients.
create or replace function imagen.jobs_enforce_unfinished_cap()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _owner uuid;
  _unfinished integer;
  _asked integer;
  _limit integer;
begin
  -- The cap protects the queue from users; the worker requeueing a try is not a new request.
  if imagen_private.caller_is_service() then
    return null;
  end if;
  -- One owner at a time, under a per-owner lock held to the end of the transaction: a concurrent
  -- request of the same owner waits, then (read committed) counts the tries this one committed.
  for _owner in select distinct c.owner_id from changed c where c.status = 'queued' order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('imagen.unfinished_tries:' || _owner::text, 0));
    _limit := imagen_private.max_unfinished_tries(_owner);
    select count(*) into _unfinished
    from imagen.jobs j
    where j.owner_id = _owner and j.status = any(imagen_private.unfinished_statuses());
    if _unfinished > _limit then
      select count(*) into _asked from changed c where c.owner_id = _owner and c.status = 'queued';
      raise exception 'too many unfinished tries: you have % queued or running and asked for % more, the limit is %',
        _unfinished - _asked, _asked, _limit
        using errcode = 'PT429',
              detail = json_build_object('unfinished', _unfinished - _asked, 'asked', _asked, 'limit', _limit)::text,
              hint = 'wait for some tries to finish or cancel some, then try again';
    end if;
  end loop;
  return null;
end;
$$;

-- A series' kind and settings, checked (defaults filled in) when either is written, and its count
-- within n's rule when it is written: never on the other writes (a pick, a favourite). A kind
-- with a source needs the picture it is made from.
create or replace function imagen.series_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  if tg_op = 'INSERT' or (new.kind, new.settings) is distinct from (old.kind, old.settings) then
    new.settings := imagen_private.checked_settings(new.kind, new.settings);
    if tg_op = 'INSERT' and new.parent_image_id is null
       and (select k.needs_source from imagen.try_kinds() k where k.kind = new.kind) then
      raise exception 'parent_image_id: a % series is made from one of your pictures', new.kind
        using errcode = '22023';
    end if;
  end if;
  if tg_op = 'INSERT' or new.count is distinct from old.count then
    perform imagen_private.assert_valid_n(new.count);
  end if;
  return new;
end;
$$;
create trigger series_check_settings
  before insert or update of kind, settings, count on imagen.series
  for each row execute function imagen.series_check_settings();

-- A try of a series takes its series' kind and settings, with its own seed (the series' base seed
-- + index - 1, or random) and, for a variation, the path of the picture it is made from, read
-- through RLS from the series' parent picture: users never name a path. A solo try's settings are
-- checked like a series'; it cannot be of a kind that needs a source. Its index is within n's rule.
create or replace function imagen.jobs_take_their_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
  _source text;
begin
  if new.series_id is null then
    if (select k.needs_source from imagen.try_kinds() k where k.kind = new.kind) then
      raise exception 'kind: a % try is made from one of your pictures, in a series (vary_image)', new.kind
        using errcode = '22023';
    end if;
    new.settings := imagen_private.checked_settings(new.kind, new.settings);
    new.settings := new.settings || jsonb_build_object(
      'seed', coalesce((new.settings ->> 'seed')::bigint, imagen_private.try_seed(null, 1)));
    return new;
  end if;
  perform imagen_private.assert_valid_n(new.series_idx);
  -- A series the caller cannot see is refused by the insert policy and the foreign key.
  select * into _series from imagen.series s where s.id = new.series_id;
  if not found then
    return new;
  end if;
  new.kind := _series.kind;
  new.settings := _series.settings || jsonb_build_object(
    'seed', imagen_private.try_seed((_series.settings ->> 'seed')::bigint, new.series_idx));
  if (select k.needs_source from imagen.try_kinds() k where k.kind = new.kind) then
    select i.path into _source from imagen.images i where i.id = _series.parent_image_id;
    if _source is null then
      raise exception 'parent_image_id: the picture series % is made from was deleted', new.series_id
        using errcode = '22023';
    end if;
    new.settings := new.settings || jsonb_build_object('source_path', _source);
  end if;
  return new;
end;
$$;
create trigger jobs_take_their_settings
  before insert on imagen.jobs
  for each row execute function imagen.jobs_take_their_settings();

-- The database stays the boundary for a try's settings written later (by the service role or the
-- database owner): checked when they change, never on a status, lease or progress write.
create or replace function imagen.jobs_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text := imagen_private.settings_problem(new.kind, new.settings);
begin
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
  return new;
end;
$$;
create trigger jobs_check_settings
  before update of kind, settings on imagen.jobs
  for each row when ((new.kind, new.settings) is distinct from (old.kind, old.settings))
  execute function imagen.jobs_check_settings();

-- The queue places, the autoscaler's count and the operator's view ask the state rules.
-- The queue order as people see it: every screen (the web app, `imagen status`, the imagine
-- function's GET) reads a try's place from here. The order itself is stated once, in
-- imagen_private.turn_order and line_order (15_queue_order.sql), which claim_next serves by:
-- the owner whose turn it is gets the first try of their line; that owner then goes to the back.
-- So in round k every owner with a k-th try is served once, in turn order: a try's place overall
-- is its rank by (place in its owner's line, its owner's turn). Only runnable tries have a place
-- (imagen_private.try_state, as the claim decides); a try waiting out a retry's backoff is
-- expected when it falls due, a rendering one started when it did; an ending one (its lease
-- expired and the next claim ends it) is not listed.
--
-- expected_start is an estimate from the last 20 finished renders: the time left on the rendering
-- tries plus one mean render per try ahead, shared by the workers rendering now; NULL while
-- nothing has finished yet.
--
-- SECURITY INVOKER: a caller sees the places among the tries it may read, which is the whole
-- queue for service_role and postgres only; users read their own through imagen.queue_places().
create view imagen.queue with (security_invoker = true) as
with states as (
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.queued_at, j.started_at, j.run_after,
         j.leased_by, imagen_private.try_state(j) as state
  from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
), recent as (
  select avg(extract(epoch from d.finished_at - d.started_at))::double precision as seconds
  from (
    select j.finished_at, j.started_at from imagen.jobs j
    where j.status = 'done' and j.started_at is not null and j.finished_at is not null
    order by j.finished_at desc
    limit 20
  ) d
), rendering as (
  select count(distinct s.leased_by) as workers,
         coalesce(sum(greatest(r.seconds - extract(epoch from now() - s.started_at)::double precision, 0)), 0)
           as seconds_left
  from states s cross join recent r
  where s.state = 'rendering'
), lines as (
  select s.*,
         row_number() over (
           partition by s.owner_id order by imagen_private.line_order(s.queued_at, s.series_idx, s.id)
         ) as place_in_line
  from states s
  where s.state = 'runnable'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
         ) as place
  from lines l join imagen.owner_turns t on t.owner_id = l.owner_id
)
select p.id, p.owner_id, p.series_id, p.series_idx, p.status, p.place, p.place_in_line,
       now() + make_interval(secs => (g.seconds_left + (p.place - 1) * r.seconds) / greatest(g.workers, 1))
         as expected_start,
       p.state
from places p cross join recent r cross join rendering g
union all
select s.id, s.owner_id, s.series_id, s.series_idx, s.status, null, null,
       case s.state when 'waiting' then s.run_after else s.started_at end, s.state
from states s
where s.state in ('waiting', 'rendering');
comment on view imagen.queue is
  'Every unfinished try: its place overall and in its owner''s line (in claim order), and an expected start.';
revoke all on imagen.queue from public, anon, authenticated;
grant select on imagen.queue to service_role;

-- The caller's own unfinished tries with their places in the whole queue. SECURITY DEFINER
-- (owned by postgres, which RLS does not bind) because a place counts other users' tries,
-- which the caller may not read; it returns only the caller's own rows, nothing of anyone else.
create or replace function imagen.queue_places()
 returns setof imagen.queue
 language sql
 stable
 security definer
 set search_path to ''
as $$
  select q.* from imagen.queue q where q.owner_id = (select auth.uid())
  order by q.place nulls first;
$$;
grant execute on function imagen.queue_places() to authenticated, service_role;

-- The tries that want a worker (imagen_private.wants_a_worker: runnable, waiting out a backoff,
-- or rendering) among those a worker serving this model would claim (imagen_private.serves);
-- NULL: every model. Rendering tries count so that a scale-down never takes a worker from a render
-- in progress. SECURITY DEFINER (owned by postgres): the role reads no table itself, and learns a
-- count only.
create or replace function imagen.queue_depth(model text default null)
 returns bigint
 language sql
 stable
 security definer
 set search_path to ''
as $$
  select count(*) from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
    and imagen_private.wants_a_worker(j)
    and imagen_private.serves(j, case when queue_depth.model is not null then array[queue_depth.model] end, null);
$$;

-- The operator's view of the fleet, in one statement: what is runnable (by model, and how long the
-- oldest has waited), who has the most unfinished tries, and which workers hold leases since when.
-- `imagen queue` prints it; each worker samples its counts for its Prometheus metrics.
-- Runnable, waiting and rendering are imagen_private.try_state's words, the claim's own rule.
-- Waits count from queued_at, when the user last put the try in the queue.
-- Users are named by id; their emails only when asked (with_emails), for an operator at a terminal.
-- SECURITY INVOKER and granted to service_role only (postgres owns it): both read every row
-- (BYPASSRLS); users and anon may not call it, it counts everybody's tries.
create or replace function imagen.queue_overview(top_users integer default 10, with_emails boolean default false)
 returns jsonb
 language plpgsql
 stable
 set search_path to ''
as $$
begin
  if top_users is null or top_users < 0 then
    raise exception 'top_users must be 0 or more' using errcode = '22023';
  end if;
  return (
    with unfinished as (
      select j.owner_id, j.settings ->> 'model' as model, j.status, j.queued_at, j.leased_by, j.started_at,
             j.lease_expires_at, imagen_private.try_state(j) as state
      from imagen.jobs j
      where j.status = any(imagen_private.unfinished_statuses())
    ), models as (
      select u.model, count(*) as runnable, extract(epoch from now() - min(u.queued_at))::double precision as wait
      from unfinished u where u.state = 'runnable'
      group by u.model
    ), users as (
      select u.owner_id, count(*) as unfinished, count(*) filter (where u.status = 'queued') as queued,
             count(*) filter (where u.status = 'running') as running
      from unfinished u
      group by u.owner_id
      order by count(*) desc, u.owner_id
      limit top_users
    ), workers as (
      select u.leased_by, count(*) as tries, min(u.started_at) as since, max(u.lease_expires_at) as lease_expires_at
      from unfinished u where u.status = 'running'
      group by u.leased_by
    )
    select jsonb_build_object(
      'measured_at', now(),
      'runnable', (select count(*) from unfinished u where u.state = 'runnable'),
      'waiting', (select count(*) from unfinished u where u.state = 'waiting'),
      'running', (select count(*) from unfinished u where u.state = 'rendering'),
      'oldest_wait_seconds', (select max(m.wait) from models m),
      'by_model', coalesce((
        select jsonb_agg(jsonb_build_object('model', m.model, 'runnable', m.runnable, 'oldest_wait_seconds', m.wait)
                         order by m.runnable desc, m.model)
        from models m), '[]'::jsonb),
      'users', coalesce((
        select jsonb_agg(jsonb_build_object(
                 'owner_id', s.owner_id,
                 'email', case when with_emails then (select a.email from auth.users a where a.id = s.owner_id) end,
                 'unfinished', s.unfinished, 'queued', s.queued, 'running', s.running)
               order by s.unfinished desc, s.owner_id)
        from users s), '[]'::jsonb),
      'workers', coalesce((
        select jsonb_agg(jsonb_build_object('worker_id', w.leased_by, 'tries', w.tries, 'since', w.since,
                                            'lease_expires_at', w.lease_expires_at)
               order by w.since, w.leased_by)
        from workers w), '[]'::jsonb)
    )
  );
end;
$$;
