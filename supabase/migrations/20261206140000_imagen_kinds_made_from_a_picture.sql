-- Kinds of work made from one of a user's pictures, as data: one RPC makes a child series of any
-- such kind (create_from_image; vary_image calls it), a kind says how many tries a series of it
-- may have and has by default (try_kinds: max_tries, default_tries), a picture a user gives in
-- settings (kind picture) must be one they uploaded to {owner}/masks/ and fit the picture
-- (imagen_private.mask_problem; users may upload there), and webhook events carry the kind.

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
    ('source_path', 'derived', 'picture', '{vary}', false, 'Source picture', null, null, 110, false, null, null, null, null, null, null, null)
  ) as l(field, part, kind, kinds, required, label, unit, step, position, form, min_value, max_value, multiple_of, max_chars, choices, default_value, strong_value)
$$;
grant execute on function imagen.settings_rules() to authenticated, service_role;

-- try_kinds gains max_tries and default_tries: a new row type, so drop and create.
drop function imagen.try_kinds();

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
    ('vary', true, 'Variation', 10, 4)
  ) as k(kind, needs_source, label, max_tries, default_tries)
$$;
grant execute on function imagen.try_kinds() to authenticated, service_role;

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
  perform imagen_private.assert_tries_of_kind(kind, n);
  insert into imagen.series (kind, settings, count, parent_image_id)
  values (kind, settings, n, parent_image_id)
  returning * into _series;
  _try_ids := imagen_private.queue_series_tries(_series, 1, n);
  return to_jsonb(_series) || jsonb_build_object('try_ids', to_jsonb(_try_ids), 'job_ids', to_jsonb(_try_ids));
end;
$$;
grant execute on function imagen_private.start_series(text,jsonb,integer,uuid) to authenticated, service_role;

-- A child series' settings: what every kind shares of its source picture's (prompt, model, size,
-- steps, style, guidance; never the seed), under what the caller gives for the kind.
create or replace function imagen_private.child_settings(kind text, source jsonb, given jsonb)
 returns jsonb
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _settings jsonb := imagen_private.shared_settings(source) || coalesce(given, '{}'::jsonb);
begin
  return _settings;
end;
$$;
grant execute on function imagen_private.child_settings(text,jsonb,jsonb) to authenticated, service_role;

-- A child series of n tries of a kind made from one of the caller's pictures (imagen.try_kinds:
-- vary, upscale, edit), its settings the picture's with `settings` over them (the kind's own:
-- strength; factor, refine; mask_path, a new prompt; a seed). n defaults to the kind's
-- default_tries. The same rules, cap and RLS as create_series: bad input raises 22023 naming the
-- field and writes nothing; a picture that is not the caller's is refused as a missing one.
create or replace function imagen.create_from_image(image_id uuid, kind text, n integer default null, settings jsonb default '{}'::jsonb)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _source jsonb;
begin
  if not imagen_private.needs_source(kind) then
    raise exception 'kind must be one of %, got %',
      (select string_agg(k.kind, ', ') from imagen.try_kinds() k where k.needs_source), coalesce(kind, 'null')
      using errcode = '22023';
  end if;
  if jsonb_typeof(coalesce(create_from_image.settings, '{}'::jsonb)) <> 'object' then
    raise exception 'settings must be a JSON object' using errcode = '22023';
  end if;
  select j.settings into _source
  from imagen.images i join imagen.jobs j on j.id = i.job_id
  where i.id = create_from_image.image_id;
  if not found then
    raise exception 'image_id % is not one of your pictures', create_from_image.image_id using errcode = '22023';
  end if;
  return imagen_private.start_series(kind, imagen_private.child_settings(kind, _source, create_from_image.settings),
    coalesce(n, (select k.default_tries from imagen.try_kinds() k where k.kind = create_from_image.kind)),
    create_from_image.image_id);
end;
$$;
comment on function imagen.create_from_image(uuid,text,integer,jsonb) is
  'Creates a child series of n tries of a kind made from one of your pictures (vary, upscale, edit) with these settings over the picture''s; returns it with its try_ids.';
grant execute on function imagen.create_from_image(uuid,text,integer,jsonb) to authenticated, service_role;

-- "More like this": create_from_image(image_id, 'vary', ...) with its arguments, kept for callers
-- of the first release.
create or replace function imagen.vary_image(image_id uuid, n integer default ((imagen_private.settings_rules_by_field() #>> '{n,default_value}'::text[]))::integer, strength integer default ((imagen_private.settings_rules_by_field() #>> '{strength,default_value}'::text[]))::integer, seed bigint default null::bigint)
 returns jsonb
 language sql
 set search_path to ''
as $$
  select imagen.create_from_image(vary_image.image_id, 'vary', n,
    jsonb_build_object('strength', vary_image.strength, 'seed', vary_image.seed));
$$;
comment on function imagen.vary_image(uuid,integer,integer,bigint) is
  'Creates a child series of n variations of one of your pictures (image-to-image, new seeds); returns it with its try_ids.';
grant execute on function imagen.vary_image(uuid,integer,integer,bigint) to authenticated, service_role;

-- A series' kind and settings, checked (defaults filled in) when either is written, and its count
-- within n's rule and its kind's max_tries when it is written: never on the other writes (a pick,
-- a favourite). A kind with a source needs the picture it is made from; a picture a user gives
-- (an edit's mask) must be theirs and fit the picture (imagen_private.mask_problem).
create or replace function imagen.series_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text;
begin
  if tg_op = 'INSERT' or (new.kind, new.settings) is distinct from (old.kind, old.settings) then
    new.settings := imagen_private.checked_settings(new.kind, new.settings);
    if tg_op = 'INSERT' and new.parent_image_id is null
       and imagen_private.needs_source(new.kind) then
      raise exception 'parent_image_id: a % series is made from one of your pictures', new.kind
        using errcode = '22023';
    end if;
    select imagen_private.mask_problem(r.field, new.settings ->> r.field,
                                       (new.settings ->> 'width')::integer, (new.settings ->> 'height')::integer)
    into _problem
    from imagen.settings_rules() r
    where r.kind = 'picture' and r.part = 'settings' and new.settings ? r.field
    order by r.position limit 1;
    if _problem is not null then
      raise exception '%', _problem using errcode = '22023';
    end if;
  end if;
  if tg_op = 'INSERT' or (new.kind, new.count) is distinct from (old.kind, old.count) then
    perform imagen_private.assert_tries_of_kind(new.kind, new.count);
  end if;
  return new;
end;
$$;

-- try.done / try.failed, and series.done once none of the series' tries is queued or running.
-- SECURITY DEFINER (owned by postgres): users cause these (a cancel ends a series) but may not
-- write the outbox. series.done takes a lock on the series first (a transaction-level advisory
-- lock, not the series row, which select_image holds while it stops the rest), so of two tries
-- finishing at once the later sees the earlier's commit; every path takes it after its tries'
-- row locks (stop_series_tries). One statement that ends several tries (a cancel) sends one
-- series.done, remembered for the transaction in a local setting.
create or replace function imagen_private.jobs_webhook_events()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
declare
  _image imagen.images;
begin
  if not exists (select from imagen.webhook_endpoints e where e.owner_id = new.owner_id) then
    return null;
  end if;
  if new.status in ('done', 'failed') then
    select * into _image from imagen.images i where i.id = new.image_id;
    perform imagen_private.queue_webhook(new.owner_id, 'try.' || new.status, jsonb_strip_nulls(jsonb_build_object(
      'try_id', new.id, 'kind', new.kind, 'series_id', new.series_id, 'series_idx', new.series_idx, 'status', new.status,
      'image_id', new.image_id, 'bucket', _image.bucket, 'path', _image.path, 'error', new.error)));
  end if;
  if new.series_id is not null
     and coalesce(current_setting('imagen.series_done_' || replace(new.series_id::text, '-', ''), true), '') = '' then
    perform pg_advisory_xact_lock(hashtextextended('imagen.series_done:' || new.series_id::text, 0));
    if not exists (select from imagen.jobs j
                   where j.series_id = new.series_id and j.status = any(imagen_private.unfinished_statuses())) then
      perform set_config('imagen.series_done_' || replace(new.series_id::text, '-', ''), '1', true);
      perform imagen_private.queue_webhook(new.owner_id, 'series.done', (
        select jsonb_build_object('series_id', new.series_id, 'kind', new.kind,
                                  'done', count(*) filter (where j.status = 'done'),
                                  'failed', count(*) filter (where j.status = 'failed'),
                                  'cancelled', count(*) filter (where j.status = 'cancelled'))
        from imagen.jobs j where j.series_id = new.series_id));
    end if;
  end if;
  return null;
end;
$$;

create or replace function imagen_private.series_webhook_events()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  perform imagen_private.queue_webhook(new.owner_id, 'winner.picked', jsonb_build_object(
    'series_id', new.id, 'kind', new.kind, 'image_id', new.selected_image_id,
    'try_id', (select i.job_id from imagen.images i where i.id = new.selected_image_id)));
  return null;
end;
$$;

-- The one thing users write to Storage themselves: an edit's mask, a PNG at
-- {owner}/masks/{name}.png (imagen_private.mask_problem checks it when an edit names it). Never
-- over a picture: the masks folder is theirs alone, and there is no update policy (no upsert).
create policy "imagen bucket: owners upload masks to their masks folder" on storage.objects
  for insert to authenticated
  with check (
    bucket_id = 'imagen'
    and (storage.foldername(name))[1] = (select auth.uid())::text
    and (storage.foldername(name))[2] = 'masks'
    and array_length(storage.foldername(name), 1) = 2
    and name like '%.png'
  );
