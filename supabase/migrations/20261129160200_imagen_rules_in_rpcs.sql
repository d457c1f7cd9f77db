-- n's limits and the settings' defaults come from imagen.settings_rules() too (issue 20): the
-- series count and try index CHECKs, create_series' and add_tries' checks and messages, and the
-- RPCs' parameter defaults read them there, so each number is written once. Same words and
-- values as before. The definitions: supabase/schemas/10_settings_rules.sql, 20_tables.sql,
-- 40_user_rpcs.sql.

alter table imagen.series
  drop constraint series_count_range,
  add constraint series_count_range check (
    count between (imagen_private.settings_rules_by_field() #>> '{n,min_value}')::integer
      and (imagen_private.settings_rules_by_field() #>> '{n,max_value}')::integer
  );
alter table imagen.jobs
  drop constraint jobs_series_idx_range,
  add constraint jobs_series_idx_range check (
    series_idx between (imagen_private.settings_rules_by_field() #>> '{n,min_value}')::integer
      and (imagen_private.settings_rules_by_field() #>> '{n,max_value}')::integer
  );

create or replace function imagen.create_series(prompt text, n integer, model text default (imagen_private.settings_rules_by_field() #>> '{model,default_value}'::text[]), width integer default ((imagen_private.settings_rules_by_field() #>> '{width,default_value}'::text[]))::integer, height integer default ((imagen_private.settings_rules_by_field() #>> '{height,default_value}'::text[]))::integer, steps integer default ((imagen_private.settings_rules_by_field() #>> '{steps,default_value}'::text[]))::integer, style text default null::text, seed bigint default null::bigint)
 returns jsonb
 language plpgsql
 set search_path to ''
as $$
declare
  _n jsonb := imagen_private.settings_rules_by_field() -> 'n';
  _series imagen.series;
  _job_ids uuid[];
begin
  if n is null or n not between (_n ->> 'min_value')::integer and (_n ->> 'max_value')::integer then
    raise exception '%, got %', _n ->> 'rule', coalesce(n::text, 'null')
      using errcode = '22023';
  end if;
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

create or replace function imagen.submit_job(prompt text, model text default (imagen_private.settings_rules_by_field() #>> '{model,default_value}'::text[]), width integer default ((imagen_private.settings_rules_by_field() #>> '{width,default_value}'::text[]))::integer, height integer default ((imagen_private.settings_rules_by_field() #>> '{height,default_value}'::text[]))::integer, steps integer default ((imagen_private.settings_rules_by_field() #>> '{steps,default_value}'::text[]))::integer, style text default null::text, seed bigint default null::bigint)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
as $$
declare
  _id uuid;
begin
  perform imagen_private.assert_valid_settings(prompt, width, height, steps, model, style, seed);
  insert into imagen.jobs (prompt, model, width, height, steps, style, seed)
  values (prompt, model, width, height, steps, style, coalesce(seed, imagen_private.try_seed(null, 1)))
  returning id into _id;
  return imagen_private.own_job(_id);
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
  if n is null or n < (_n ->> 'min_value')::integer then
    raise exception 'n must be at least %, got %', _n ->> 'min_value', coalesce(n::text, 'null')
      using errcode = '22023';
  end if;
  select * into _series from imagen.series s where s.id = add_tries.series_id for update;
  if not found then
    raise exception 'series_id % is not one of your series', add_tries.series_id
      using errcode = '22023';
  end if;
  if _series.count + n > (_n ->> 'max_value')::integer then
    raise exception 'n too large: the series has % tries and may have at most %', _series.count, _n ->> 'max_value'
      using errcode = '22023';
  end if;
  _first := _series.count + 1;
  update imagen.series s set count = s.count + n where s.id = _series.id returning * into _series;
  _job_ids := imagen_private.queue_series_tries(_series, _first, _series.count);
  return to_jsonb(_series) || jsonb_build_object('job_ids', to_jsonb(_job_ids));
end;
$$;
