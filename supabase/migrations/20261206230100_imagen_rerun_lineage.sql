-- Lineage of reruns: series.rerun_of names the series a rerun asks again (new seeds), and
-- imagen.rerun_series(series_id) starts one, server-side, marked so: the gallery and the series
-- page link a rerun and its original both ways.
alter table imagen.series add column rerun_of uuid references imagen.series (id) on delete set null;
create index series_rerun_of_idx on imagen.series (rerun_of);
comment on column imagen.series.rerun_of is 'The series this one is a rerun of (the same request, new seeds), while it exists.';

-- "Rerun with new seeds": the same request again as a new series, marked as a rerun of this one
-- (series.rerun_of, the gallery's lineage): a series made from a picture is made from it again
-- with its prompt and its kind's settings, any other with its settings; never the seed. SECURITY
-- DEFINER (owned by postgres) to write rerun_of, which users may not; it acts only on the
-- caller's own series, and what it starts is the caller's, under the same rules, cap and checks.
create or replace function imagen.rerun_series(series_id uuid)
 returns jsonb
 language plpgsql
 security definer
 set search_path to ''
as $$
declare
  _from imagen.series;
  _new jsonb;
begin
  select * into _from from imagen.series s
  where s.id = rerun_series.series_id and s.owner_id = (select auth.uid());
  if not found then
    raise exception 'series_id % is not one of your series', rerun_series.series_id using errcode = '22023';
  end if;
  if _from.parent_image_id is not null then
    _new := imagen.create_from_image(_from.parent_image_id, _from.kind, _from.count,
      jsonb_build_object('prompt', _from.settings -> 'prompt') || coalesce((
        select jsonb_object_agg(e.key, e.value) from jsonb_each(_from.settings) e
        join imagen.settings_rules() r on r.field = e.key and r.part = 'settings' and _from.kind = any(r.kinds)
        where e.key <> 'seed'), '{}'::jsonb));
  else
    _new := imagen.create_series(_from.settings ->> 'prompt', _from.count, _from.settings - 'seed');
  end if;
  update imagen.series s set rerun_of = _from.id where s.id = (_new ->> 'id')::uuid;
  return _new || jsonb_build_object('rerun_of', _from.id);
end;
$$;
comment on function imagen.rerun_series(uuid) is
  'Starts the same request as one of your series again with new seeds, as a new series marked as its rerun; returns it with its try_ids.';
grant execute on function imagen.rerun_series(uuid) to authenticated, service_role;
