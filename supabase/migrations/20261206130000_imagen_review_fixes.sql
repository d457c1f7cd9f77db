-- Found by a review of the settings value (issue 30): a refusal quoted a value whole (a number of
-- 131,000 digits made a message as long); an update of a try's settings by the service role or the
-- database owner was checked less than an insert (an integer written 8.0 broke complete_job's
-- reading of it; a variation could lose its source); and a running try without a lease was shown
-- runnable but never claimed. Messages quote at most 40 characters, jobs_check_settings keeps
-- integers as integers and a source with its kind, and a running try must have a lease. The three
-- triggers that ask whether a kind needs a source ask imagen_private.needs_source.
alter table imagen.jobs
  add constraint jobs_running_has_a_lease check (status <> 'running' or lease_expires_at is not null);

-- Whether a try of this kind is made from a picture (imagen.try_kinds).
create or replace function imagen_private.needs_source(kind text)
 returns boolean
 language sql
 immutable
 set search_path to ''
as $$
  select coalesce((select k.needs_source from imagen.try_kinds() k where k.kind = needs_source.kind), false)
$$;
grant execute on function imagen_private.needs_source(text) to authenticated, service_role;

-- A value as a refusal quotes it: at most 40 characters (a number of 131,000 digits is no message).
create or replace function imagen_private.shown(value jsonb)
 returns text
 language sql
 immutable
 set search_path to ''
as $$
  select case when length(value::text) > 40 then left(value::text, 37) || '...' else value::text end
$$;
grant execute on function imagen_private.shown(jsonb) to authenticated, service_role;

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
        return format('%s, got %s', _rule.rule, imagen_private.shown(_value));
      end if;
      _number := _value::numeric;
      if _number not between _rule.min_value and _rule.max_value
         or (_rule.kind = 'integer' and (_number <> trunc(_number) or _number % coalesce(_rule.multiple_of, 1) <> 0)) then
        return format('%s, got %s', _rule.rule, imagen_private.shown(_value));
      end if;
    elsif jsonb_typeof(_value) <> 'string' then
      return format('%s, got %s', _rule.rule, imagen_private.shown(_value));
    elsif _rule.kind = 'choice' then
      if not (_value #>> '{}') = any(_rule.choices) then
        return format('%s, got %s', _rule.rule, imagen_private.shown(_value));
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

-- An integer setting written 512.0 or 5.12e2 as 512: what reads it (the worker, complete_job, the
-- PNG) sees the number the rule allowed. For settings the check has passed.
create or replace function imagen_private.integers_as_integers(settings jsonb)
 returns jsonb
 language sql
 immutable
 set search_path to ''
as $$
  select settings || coalesce((
    select jsonb_object_agg(r.field, (settings ->> r.field)::numeric::bigint)
    from imagen.settings_rules() r
    where r.kind = 'integer' and jsonb_typeof(settings -> r.field) = 'number'), '{}'::jsonb)
$$;
grant execute on function imagen_private.integers_as_integers(jsonb) to authenticated, service_role;

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
  return imagen_private.integers_as_integers(jsonb_strip_nulls(_settings));
end;
$$;
grant execute on function imagen_private.checked_settings(text,jsonb) to authenticated, service_role;

-- The database stays the boundary for a try's settings written later (by the service role or the
-- database owner): checked when they change, never on a status, lease or progress write; a kind
-- with a source keeps its series and its source's path; integers are kept as integers.
create or replace function imagen.jobs_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text := imagen_private.settings_problem(new.kind, new.settings);
begin
  if _problem is null and imagen_private.needs_source(new.kind)
     and (new.series_id is null or new.settings ->> 'source_path' is null) then
    _problem := format('kind: a %s try is made from a picture of its series (source_path)', new.kind);
  end if;
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
  new.settings := imagen_private.integers_as_integers(new.settings);
  return new;
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
       and imagen_private.needs_source(new.kind) then
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
    if imagen_private.needs_source(new.kind) then
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
  if imagen_private.needs_source(new.kind) then
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
