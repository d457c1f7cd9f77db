-- "More like this": a child series of variations of one picture (image-to-image from it, new
-- seeds), linked to its parent picture. The strength rule joins imagen.settings_rules(); the
-- series records its parent picture and strength, each try copies the strength and the picture's
-- path (jobs_take_their_source; users never write a path); vary_image starts one under the same
-- rules, cap and RLS as create_series, whose n check it now shares.

create or replace function imagen.settings_rules()
 returns table(field text, min_value bigint, max_value bigint, multiple_of integer, max_chars integer, default_value text, rule text)
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
         end
  from (values
    ('n', 1::bigint, 10::bigint, null::integer, null::integer, null::text),
    ('prompt', null, null, null, 2000, null),
    ('model', null, null, null, 200, 'black-forest-labs/FLUX.1-schnell'),
    ('width', 256, 2048, 16, null, '1024'),
    ('height', 256, 2048, 16, null, '1024'),
    ('steps', 1, 50, null, null, '4'),
    ('style', null, null, null, 200, null),
    ('seed', 0, 4294967295, null, null, null),
    ('strength', 5, 95, null, null, '35')
  ) as l(field, min_value, max_value, multiple_of, max_chars, default_value)
$$;
grant execute on function imagen.settings_rules() to authenticated, service_role;

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

alter table imagen.series
  add column parent_image_id uuid,
  add column strength integer constraint series_strength_valid check (imagen_private.strength_problem(strength) is null),
  add constraint series_variation_has_strength check (parent_image_id is null or strength is not null),
  add constraint series_parent_image_id_fkey foreign key (parent_image_id)
    references imagen.images (id) on delete set null;
create index series_parent_image_id_idx on imagen.series (parent_image_id);

alter table imagen.jobs
  add column strength integer constraint jobs_strength_valid check (imagen_private.strength_problem(strength) is null),
  add column source_path text;
comment on column imagen.jobs.source_path is 'A variation''s source picture in the bucket (never written by users).';

grant insert (parent_image_id, strength) on imagen.series to authenticated;
grant select (strength) on imagen.jobs to authenticated;

-- A try as its owner may see it, now with its strength (source_path stays the worker's).
create or replace function imagen_private.own_job(job_id uuid)
 returns imagen.jobs
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _job imagen.jobs;
begin
  select j.id, j.owner_id, j.series_id, j.series_idx, j.prompt, j.model, j.width, j.height, j.steps,
         j.style, j.seed, j.status, j.cancel_requested, j.attempts, j.max_attempts, j.run_after,
         null, j.lease_expires_at, j.progress, j.error, j.image_id, j.created_at, j.started_at,
         j.finished_at, j.updated_at, j.queued_at, null::uuid, j.strength, null::text
  into _job
  from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;
grant execute on function imagen_private.own_job(uuid) to authenticated, service_role;

-- A variation series varies one of its owner's own pictures (the foreign key alone ignores RLS).
alter policy "series: owners create their own" on imagen.series
  with check (
    owner_id = (select auth.uid())
    and (parent_image_id is null
         or exists (select from imagen.images i where i.id = parent_image_id and i.owner_id = (select auth.uid())))
  );

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

-- Validates, then inserts the series and its n tries in one transaction; returns the series
-- with its job_ids. Bad input raises 22023 naming the field and writes nothing.
create or replace function imagen.create_series(prompt text, n integer, model text default (imagen_private.settings_rules_by_field() #>> '{model,default_value}'::text[]), width integer default ((imagen_private.settings_rules_by_field() #>> '{width,default_value}'::text[]))::integer, height integer default ((imagen_private.settings_rules_by_field() #>> '{height,default_value}'::text[]))::integer, steps integer default ((imagen_private.settings_rules_by_field() #>> '{steps,default_value}'::text[]))::integer, style text default null::text, seed bigint default null::bigint)
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
  'Creates a series of n tries (imagen.settings_rules: 1..10) of one prompt; returns the series with its job_ids.';
grant execute on function imagen.create_series(text,integer,text,integer,integer,integer,text,bigint) to authenticated, service_role;

-- "More like this": a child series of n variations of one of the caller's pictures (its prompt and
-- settings, new seeds unless one is given), each rendered from that picture with `strength`
-- percent of it anew. The same rules, cap and RLS as create_series: bad input raises 22023 naming
-- the field and writes nothing.
create or replace function imagen.vary_image(image_id uuid, n integer, strength integer default ((imagen_private.settings_rules_by_field() #>> '{strength,default_value}'::text[]))::integer, seed bigint default null::bigint)
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
comment on function imagen.vary_image(uuid,integer,integer,bigint) is
  'Creates a child series of n variations of one of your pictures (image-to-image, new seeds); returns it with its job_ids.';
grant execute on function imagen.vary_image(uuid,integer,integer,bigint) to authenticated, service_role;

-- A variation's try renders from its series' parent picture at the series' strength. Users never
-- name a path: it is read here, through RLS, from the picture the series varies.
create or replace function imagen.jobs_take_their_source()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  select s.strength, i.path into new.strength, new.source_path
  from imagen.series s left join imagen.images i on i.id = s.parent_image_id
  where s.id = new.series_id;
  if new.strength is not null and new.source_path is null then
    raise exception 'parent_image_id: the picture series % varies was deleted', new.series_id
      using errcode = '22023';
  end if;
  return new;
end;
$$;
create trigger jobs_take_their_source
  before insert on imagen.jobs
  for each row execute function imagen.jobs_take_their_source();
