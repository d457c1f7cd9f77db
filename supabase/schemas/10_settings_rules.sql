-- A try's settings are one jsonb value (imagen.series.settings, imagen.jobs.settings), and their
-- rules are rows (imagen.settings_rules). One generic check (settings_problem) applies the rows to
-- a value, so a new setting is a new row here and the code that uses it; the web form, the CLI's
-- options and the imagine function's fields are generated from the same rows (scripts/gen-types).
-- The check runs from triggers on insert and when the value itself changes, never on the status,
-- lease and progress writes of the queue.

-- Every field's rule, published. The one place these numbers and words are written.
--   part: 'request' (n: how many tries, not a setting of one), 'settings' (what a user gives),
--         'derived' (written by the database for the worker: the source_path of a try made from a
--         picture).
--   kind: how the value is typed and checked: integer, decimal, choice, text, picture (a path in
--         Storage; a user's own, given in settings, is checked by imagen_private.mask_problem, and
--         max_value is its size in bytes). The worker fetches every picture field of a try.
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
           when l.kind = 'picture' and l.part = 'settings'
             then format('%s must be a PNG mask of at most %s bytes that you uploaded to your masks folder', l.field, l.max_value)
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
    ('guidance', 'settings', 'decimal', null, false, 'Guidance', null, 0.1, 70, true, 0, 20, null, null, null, null, null),
    ('style', 'settings', 'text', null, false, 'Style', null, null, 80, true, null, null, null, 200, null, null, null),
    ('seed', 'settings', 'integer', null, false, 'Seed', null, 1, 90, true, 0, 4294967295, null, null, null, null, null),
    ('strength', 'settings', 'integer', '{vary}', true, 'Strength', '%', 5, 100, true, 5, 95, null, null, null, '35', 70),
    -- An upscale enlarges its picture factor times and re-draws refine % of it, tile by tile: low,
    -- so details are redrawn and the picture stays the same.
    ('factor', 'settings', 'integer', '{upscale}', true, 'Factor', '×', 1, 102, true, 2, 4, null, null, null, '2', null),
    ('refine', 'settings', 'integer', '{upscale}', true, 'Refine', '%', 5, 104, true, 5, 60, null, null, null, '25', null),
    ('source_path', 'derived', 'picture', '{vary,upscale,edit}', false, 'Source picture', null, null, 110, false, null, null, null, null, null, null, null),
    -- An edit repaints where its mask is white: a PNG the user uploads to <user id>/masks/.
    ('mask_path', 'settings', 'picture', '{edit}', true, 'Mask', null, null, 120, false, null, 4194304, null, null, null, null, null)
  ) as l(field, part, kind, kinds, required, label, unit, step, position, form, min_value, max_value, multiple_of, max_chars, choices, default_value, strong_value)
$$;
grant execute on function imagen.settings_rules() to authenticated, service_role;

-- The kinds of work a try can be, whether one needs a source picture, and how many tries a
-- series of the kind may have (and has when not told). A renderer is chosen by kind (the
-- worker's `Renderer.kinds`); a kind with a source is made from one of the user's pictures
-- (create_from_image), never queued on its own.
create or replace function imagen.try_kinds()
 returns table(kind text, needs_source boolean, label text, max_tries integer, default_tries integer)
 language sql
 immutable
 set search_path to ''
as $$
  select * from (values
    ('generate', false, 'New picture', 10, 4),
    ('vary', true, 'Variation', 10, 4),
    ('upscale', true, 'Upscale', 4, 1),
    ('edit', true, 'Edited region', 10, 4)
  ) as k(kind, needs_source, label, max_tries, default_tries)
$$;
grant execute on function imagen.try_kinds() to authenticated, service_role;

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

-- A series of this kind has at most its kind's max_tries (an upscale 4), within n's rule.
create or replace function imagen_private.assert_tries_of_kind(kind text, count integer)
 returns void
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _max integer := (select k.max_tries from imagen.try_kinds() k where k.kind = assert_tries_of_kind.kind);
begin
  perform imagen_private.assert_valid_n(count);
  if count > _max then
    raise exception 'n must be between 1 and % for a series of kind %, got %', _max, kind, count
      using errcode = '22023';
  end if;
end;
$$;
grant execute on function imagen_private.assert_tries_of_kind(text,integer) to authenticated, service_role;

-- What is wrong with a mask a user gives for a picture of width x height, or NULL. It must be
-- an object the caller sees (RLS: their own folder) under <user id>/masks/, a PNG within the
-- rule's bytes, of the picture's size, with something painted. Storage knows the bytes and the
-- type; the size and the painted pixels are what the upload said (its user_metadata: width,
-- height, painted), and the worker checks the PNG itself before it renders. Someone else's mask
-- is refused with the same words as a missing one: nobody learns whether it exists.
create or replace function imagen_private.mask_problem(field text, path text, width integer, height integer)
 returns text
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _rule jsonb := imagen_private.settings_rules_by_field() -> field;
  _object record;
  _said jsonb;
begin
  select o.metadata, coalesce(o.user_metadata, '{}'::jsonb) as user_metadata into _object
  from storage.objects o
  where o.bucket_id = 'imagen' and o.name = path
    and (storage.foldername(o.name))[1] = (select auth.uid())::text
    and (storage.foldername(o.name))[2] = 'masks';
  if not found then
    return format('%s must be a mask you uploaded to your masks folder (<your user id>/masks/<name>.png), got %s',
                  field, imagen_private.shown(to_jsonb(path)));
  end if;
  if _object.metadata ->> 'mimetype' is distinct from 'image/png' then
    return format('%s must be a PNG, got %s', field, coalesce(_object.metadata ->> 'mimetype', 'no type'));
  end if;
  if coalesce((_object.metadata ->> 'size')::bigint, 0) > (_rule ->> 'max_value')::bigint then
    return format('%s must be at most %s bytes, got %s', field, _rule ->> 'max_value', _object.metadata ->> 'size');
  end if;
  _said := _object.user_metadata;
  if (_said ->> 'width', _said ->> 'height') is distinct from (width::text, height::text) then
    return format('%s is %sx%s, the picture %sx%s: paint the mask over the picture itself', field,
                  coalesce(_said ->> 'width', '?'), coalesce(_said ->> 'height', '?'), width, height);
  end if;
  if jsonb_typeof(_said -> 'painted') is distinct from 'number' or (_said ->> 'painted')::numeric <= 0 then
    return format('%s is empty: paint the region to repaint', field);
  end if;
  return null;
end;
$$;
grant execute on function imagen_private.mask_problem(text,text,integer,integer) to authenticated, service_role;
