-- Found by a review of the settings value (issue 30): a refusal quoted a value whole (a number of
-- 131,000 digits made a message as long); an update of a try's settings by the service role or the
-- database owner was checked less than an insert (an integer written 8.0 broke complete_job's
-- reading of it; a variation could lose its source); and a running try without a lease was shown
-- runnable but never claimed. Messages quote at most 40 characters, jobs_check_settings keeps
-- integers as integers and a source with its kind, and a running try must have a lease.
alter table imagen.jobs
  add constraint jobs_running_has_a_lease check (status <> 'running' or lease_expires_at is not null);

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
  if _problem is null and (select k.needs_source from imagen.try_kinds() k where k.kind = new.kind)
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
