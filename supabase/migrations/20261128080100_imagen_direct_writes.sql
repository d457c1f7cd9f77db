-- Direct writes through PostgREST obey the RPCs' rules. Users keep their INSERT grants on series
-- and jobs and UPDATE of series.count: the RPCs are SECURITY INVOKER and write with exactly those
-- rights. So instead of revoking them, the rules the RPCs follow are enforced on the tables:
-- settings (settings_problem CHECKs), the cap (its trigger), a series' tries match the series
-- (below), and a series has exactly count tries (below), which makes add_tries, or the same rows
-- written by hand, the only way to raise count.

-- A try of a series carries the series' settings, and its seed follows the series' base seed.
create function imagen.jobs_match_their_series() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  -- A series the caller cannot see is refused by the insert policy and the foreign key.
  select * into _series from imagen.series s where s.id = new.series_id;
  if found and (
    (new.prompt, new.model, new.width, new.height, new.steps, new.style)
      is distinct from (_series.prompt, _series.model, _series.width, _series.height, _series.steps, _series.style)
    or (_series.base_seed is not null and new.seed <> imagen.try_seed(_series.base_seed, new.series_idx))
  ) then
    raise exception 'settings of a try must be those of its series % (prompt, model, width, height, steps, style, seed)',
      new.series_id
      using errcode = '22023';
  end if;
  return new;
end;
$$;

create trigger jobs_match_their_series
  before insert on imagen.jobs
  for each row when (new.series_id is not null)
  execute function imagen.jobs_match_their_series();

-- Checked at commit, when create_series and add_tries have written both the count and the tries.
create function imagen.series_count_matches_tries() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _count integer;
  _tries integer;
begin
  select s.count, (select count(*) from imagen.jobs j where j.series_id = s.id)
  into _count, _tries
  from imagen.series s where s.id = new.id;
  if found and _tries <> _count then
    raise exception 'count must equal the number of tries of series % (count %, % tries)', new.id, _count, _tries
      using errcode = '22023',
            hint = 'add tries with imagen.add_tries';
  end if;
  return null;
end;
$$;

create constraint trigger series_count_matches_tries
  after insert or update of count on imagen.series
  deferrable initially deferred
  for each row execute function imagen.series_count_matches_tries();

revoke execute on function imagen.jobs_match_their_series(), imagen.series_count_matches_tries()
  from public, anon, authenticated;
