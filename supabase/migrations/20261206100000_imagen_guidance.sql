-- A render setting: guidance, how closely the picture follows the prompt (FLUX.1-dev's distilled
-- guidance, SDXL's classifier-free guidance; FLUX.1-schnell has none and ignores it). A decimal,
-- optional: left out, the model's own default applies. One row of the rules; the form, the CLI,
-- the imagine function, the check and the PNG's metadata take it from there.
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
    ('guidance', 'settings', 'decimal', null, false, 'Guidance', null, 0.1, 70, true, 0, 20, null, null, null, null, null),
    ('style', 'settings', 'text', null, false, 'Style', null, null, 80, true, null, null, null, 200, null, null, null),
    ('seed', 'settings', 'integer', null, false, 'Seed', null, 1, 90, true, 0, 4294967295, null, null, null, null, null),
    ('strength', 'settings', 'integer', '{vary}', true, 'Strength', '%', 5, 100, true, 5, 95, null, null, null, '35', 70),
    ('source_path', 'derived', 'picture', '{vary}', false, 'Source picture', null, null, 110, false, null, null, null, null, null, null, null)
  ) as l(field, part, kind, kinds, required, label, unit, step, position, form, min_value, max_value, multiple_of, max_chars, choices, default_value, strong_value)
$$;
