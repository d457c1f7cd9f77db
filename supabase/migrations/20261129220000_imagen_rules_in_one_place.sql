-- Every rule's words and numbers in one place (issue 20): imagen.settings_rules() also publishes
-- prompt's empty_rule, n's grow_rule (add_tries past n's maximum) and strength's strong_value,
-- and n's default (4), which create_series and vary_image now take when n is left out. The web
-- app's rules (generated) and the RPCs' messages come from the same rows; add_tries checks n with
-- n's own rule. A function's result columns cannot change in place, so settings_rules is dropped
-- and made again (nothing depends on it by OID: the bodies that read it are not tracked). The
-- definitions: supabase/schemas/10_settings_rules.sql and 40_user_rpcs.sql.

drop function imagen.settings_rules();
create function imagen.settings_rules()
 returns table(field text, min_value bigint, max_value bigint, multiple_of integer, max_chars integer, default_value text, rule text, empty_rule text, grow_rule text, strong_value bigint)
 language sql
 immutable
 set search_path to ''
as $$
  select l.field, l.min_value, l.max_value, l.multiple_of, l.max_chars, l.default_value,
         case
           when l.max_chars is not null and l.field = 'model'
             then format('%s must be a model id of 1 to %s characters', l.field, l.max_chars)
           when l.max_chars is not null then format('%s must be at most %s characters', l.field, l.max_chars)
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
    ('n', 1::bigint, 10::bigint, null::integer, null::integer, '4'::text, null::bigint),
    ('prompt', null, null, null, 2000, null, null),
    ('model', null, null, null, 200, 'black-forest-labs/FLUX.1-schnell', null),
    ('width', 256, 2048, 16, null, '1024', null),
    ('height', 256, 2048, 16, null, '1024', null),
    ('steps', 1, 50, null, null, '4', null),
    ('style', null, null, null, 200, null, null),
    ('seed', 0, 4294967295, null, null, null, null),
    ('strength', 5, 95, null, null, '35', 70)
  ) as l(field, min_value, max_value, multiple_of, max_chars, default_value, strong_value)
$$;
grant execute on function imagen.settings_rules() to authenticated, service_role;

create or replace function imagen_private.settings_problem(prompt text, model text, width integer, height integer, steps integer, style text, seed bigint)
 returns text
 language sql
 immutable
 set search_path to ''
as $$
  select case
    when prompt is null or prompt !~ '[^[:space:]]' then r #>> '{prompt,empty_rule}'
    when length(prompt) > (r #>> '{prompt,max_chars}')::integer
      then format('%s, got %s', r #>> '{prompt,rule}', length(prompt))
    when model is null or model !~ '[^[:space:]]' or length(model) > (r #>> '{model,max_chars}')::integer
      then r #>> '{model,rule}'
    when width is null or width not between (r #>> '{width,min_value}')::integer and (r #>> '{width,max_value}')::integer
      or width % (r #>> '{width,multiple_of}')::integer <> 0
      then format('%s, got %s', r #>> '{width,rule}', width)
    when height is null or height not between (r #>> '{height,min_value}')::integer and (r #>> '{height,max_value}')::integer
      or height % (r #>> '{height,multiple_of}')::integer <> 0
      then format('%s, got %s', r #>> '{height,rule}', height)
    when steps is null or steps not between (r #>> '{steps,min_value}')::integer and (r #>> '{steps,max_value}')::integer
      then format('%s, got %s', r #>> '{steps,rule}', steps)
    when length(style) > (r #>> '{style,max_chars}')::integer then r #>> '{style,rule}'
    when seed not between (r #>> '{seed,min_value}')::bigint and (r #>> '{seed,max_value}')::bigint
      then format('%s, got %s', r #>> '{seed,rule}', seed)
  end
  from (select imagen_private.settings_rules_by_field() as r) rules
$$;
grant execute on function imagen_private.settings_problem(text,text,integer,integer,integer,text,bigint) to authenticated, service_role;

create or replace function imagen.create_series(prompt text, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, model text default (imagen_private.settings_rules_by_field() #>> '{model,default_value}'::text[]), width integer default ((imagen_private.settings_rules_by_field() #>> '{width,default_value}'::text[]))::integer, height integer default ((imagen_private.settings_rules_by_field() #>> '{height,default_value}'::text[]))::integer, steps integer default ((imagen_private.settings_rules_by_field() #>> '{steps,default_value}'::text[]))::integer, style text default null::text, seed bigint default null::bigint)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
  _job_ids uuid[];
begin
  perform imagen_private.assert_valid_n(n);
  perform imagen_private.assert_valid_settings(prompt, width, height, steps, model, style, seed);

  insert into imagen.series (prompt, model, width, height, steps, style, base_seed, count)
  values (prompt, model, width, height, steps, style, seed, n)
  returning * into _series;
  _job_ids := imagen_private.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;
comment on function imagen.create_series(text,integer,text,integer,integer,integer,text,bigint) is
  'Creates a series of n tries (limits and default: imagen.settings_rules) of one prompt; returns the series with its job_ids.';
grant execute on function imagen.create_series(text,integer,text,integer,integer,integer,text,bigint) to authenticated, service_role;

create or replace function imagen.vary_image(image_id uuid, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, strength integer default ((imagen_private.settings_rules_by_field() #>> '{strength,default_value}'::text[]))::integer, seed bigint default null::bigint)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _image imagen.images;
  _problem text := coalesce(imagen_private.strength_problem(strength),
    case when strength is null then (imagen_private.settings_rules_by_field() #>> '{strength,rule}') || ', got null' end);
  _series imagen.series;
  _job_ids uuid[];
begin
  select * into _image from imagen.images i where i.id = vary_image.image_id;
  if not found then
    raise exception 'image_id % is not one of your pictures', vary_image.image_id using errcode = '22023';
  end if;
  perform imagen_private.assert_valid_n(n);
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
  perform imagen_private.assert_valid_settings(_image.prompt, _image.width, _image.height, _image.steps,
                                               _image.model, _image.style, seed);
  insert into imagen.series (prompt, model, width, height, steps, style, base_seed, count, parent_image_id, strength)
  values (_image.prompt, _image.model, _image.width, _image.height, _image.steps, _image.style, seed, n,
          _image.id, vary_image.strength)
  returning * into _series;
  _job_ids := imagen_private.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;

create or replace function imagen.add_tries(series_id uuid, n integer)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _n jsonb := imagen_private.settings_rules_by_field() -> 'n';
  _series imagen.series;
  _first integer;
  _job_ids uuid[];
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
  _job_ids := imagen_private.queue_series_tries(_series, _first, _series.count);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;
