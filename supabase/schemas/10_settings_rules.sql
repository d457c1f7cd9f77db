-- The render settings' rules, written once (imagen.settings_rules). The tables' CHECKs
-- (20_tables.sql) and the RPCs' 22023 messages both come from imagen_private.settings_problem, so
-- a direct insert and an RPC refuse the same things.

-- Every setting's rule, published: its limits, its default and the rule in words. The one place
-- these numbers and words are written: settings_problem (the tables' CHECKs, the RPCs' 22023
-- messages) and add_tries read them here, scripts/gen-types writes the web app's rules from here,
-- and the imagine function and the CLI leave ranges and defaults to the RPCs. n is a request's,
-- not a setting's; strength is a variation's (vary_image): the percent of the picture that is
-- rendered anew. Beside `rule` (a value out of its limits): empty_rule, a missing or blank value
-- where that is said otherwise (prompt); grow_rule, add_tries past n's maximum (%s: the series'
-- count); strong_value, the strong choice the web app offers beside the default (strength).
create or replace function imagen.settings_rules()
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

-- The same rules as one jsonb value, field -> rule. Immutable and without arguments, so a query
-- that names it (settings_problem, in every CHECK) folds it to a constant when it is planned.
create or replace function imagen_private.settings_rules_by_field()
 returns jsonb
 language sql
 immutable
 set search_path to ''
as $$
  select jsonb_object_agg(r.field, to_jsonb(r) - 'field') from imagen.settings_rules() r
$$;
grant execute on function imagen_private.settings_rules_by_field() to authenticated, service_role;

-- What is wrong with these settings, as a message that starts with the field's name; NULL if
-- nothing is. A NULL style or seed is fine (no style; a random seed). Limits and words come from
-- imagen.settings_rules().
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

-- What is wrong with a variation's strength (NULL: not a variation), or NULL if nothing is.
create or replace function imagen_private.strength_problem(strength integer)
 returns text
 language sql
 immutable
 set search_path to ''
as $$
  select case
    when strength not between (r #>> '{strength,min_value}')::integer and (r #>> '{strength,max_value}')::integer
      then format('%s, got %s', r #>> '{strength,rule}', strength)
  end
  from (select imagen_private.settings_rules_by_field() as r) rules
$$;
grant execute on function imagen_private.strength_problem(integer) to authenticated, service_role;

-- Raises 22023 naming the first bad field; shared by every RPC that takes render settings.
create or replace function imagen_private.assert_valid_settings(prompt text, width integer, height integer, steps integer, model text, style text, seed bigint)
 returns void
 language plpgsql
 immutable
 set search_path to ''
as $$
declare
  _problem text := imagen_private.settings_problem(prompt, model, width, height, steps, style, seed);
begin
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
end;
$$;
grant execute on function imagen_private.assert_valid_settings(text,integer,integer,integer,text,text,bigint) to authenticated, service_role;

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

