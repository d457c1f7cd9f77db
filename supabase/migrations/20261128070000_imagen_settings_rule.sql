-- The render settings' rules, written once. The tables' CHECKs and the RPCs' 22023 messages
-- both come from imagen.settings_problem, so a direct insert and an RPC refuse the same things.

-- What is wrong with these settings, as a message that starts with the field's name; NULL if
-- nothing is. A NULL style or seed is fine (no style; a random seed).
create function imagen.settings_problem(
  prompt text, model text, width integer, height integer, steps integer, style text, seed bigint
) returns text
language sql
immutable
set search_path = ''
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

-- The RPCs' form of the same rule: 22023 naming the first bad field.
create or replace function imagen.assert_valid_settings(
  prompt text, width integer, height integer, steps integer, model text, style text, seed bigint
) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
  _problem text := imagen.settings_problem(prompt, model, width, height, steps, style, seed);
begin
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
end;
$$;

-- One CHECK per table instead of a copy of each rule per column (which also missed model and style).
alter table imagen.series
  drop constraint series_width_valid,
  drop constraint series_height_valid,
  drop constraint series_steps_valid,
  drop constraint series_prompt_valid,
  drop constraint series_base_seed_valid,
  add constraint series_settings_valid
    check (imagen.settings_problem(prompt, model, width, height, steps, style, base_seed) is null);
alter table imagen.jobs
  drop constraint jobs_width_valid,
  drop constraint jobs_height_valid,
  drop constraint jobs_steps_valid,
  drop constraint jobs_prompt_valid,
  drop constraint jobs_seed_valid,
  add constraint jobs_settings_valid
    check (imagen.settings_problem(prompt, model, width, height, steps, style, seed) is null);

revoke execute on function imagen.settings_problem(text, text, integer, integer, integer, text, bigint)
  from public, anon;
grant execute on function imagen.settings_problem(text, text, integer, integer, integer, text, bigint)
  to authenticated, service_role;
