-- The render settings' rules, written once. The tables' CHECKs (20_tables.sql) and the RPCs'
-- 22023 messages both come from imagen_private.settings_problem, so a direct insert and an RPC
-- refuse the same things.

-- What is wrong with these settings, as a message that starts with the field's name; NULL if
-- nothing is. A NULL style or seed is fine (no style; a random seed).
create or replace function imagen_private.settings_problem(prompt text, model text, width integer, height integer, steps integer, style text, seed bigint)
 returns text
 language sql
 immutable
 set search_path to ''
as $$
  select case
    when prompt is null or prompt !~ '[^[:space:]]' then 'prompt must not be empty'
    when length(prompt) > 2000 then format('prompt must be at most 2000 characters, got %s', length(prompt))
    when model is null or model !~ '[^[:space:]]' or length(model) > 200
      then 'model must be a model id of 1 to 200 characters'
    when width is null or width not between 256 and 2048 or width % 16 <> 0
      then format('width must be a multiple of 16 between 256 and 2048, got %s', width)
    when height is null or height not between 256 and 2048 or height % 16 <> 0
      then format('height must be a multiple of 16 between 256 and 2048, got %s', height)
    when steps is null or steps not between 1 and 50 then format('steps must be between 1 and 50, got %s', steps)
    when length(style) > 200 then 'style must be at most 200 characters'
    when seed not between 0 and 4294967295 then format('seed must be between 0 and 4294967295, got %s', seed)
  end
$$;
grant execute on function imagen_private.settings_problem(text,text,integer,integer,integer,text,bigint) to authenticated, service_role;

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

