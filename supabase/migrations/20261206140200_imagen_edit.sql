-- Edit, a kind of work made from a picture: the region a mask paints white repainted from the
-- prompt by the worker (rendering/edit.py), the rest kept. The mask is a picture setting the user
-- gives (mask_path: a PNG they uploaded to their masks folder, of at most 4 MiB, checked by
-- imagen_private.mask_problem against the picture's size).

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
