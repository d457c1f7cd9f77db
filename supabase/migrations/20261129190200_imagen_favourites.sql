-- The gallery as a history: owners mark series as favourites (a series is one user's, so the mark
-- is per user and RLS's update policy already limits it to the owner) through set_favourite, and
-- filter by the mark a page at a time, newest first.
alter table imagen.series add column favourite boolean not null default false;
create index series_owner_id_favourite_idx on imagen.series (owner_id, created_at desc) where favourite;
grant update (favourite) on imagen.series to authenticated;

-- Marks (or unmarks) one of the caller's series as a favourite.
create or replace function imagen.set_favourite(series_id uuid, favourite boolean)
 returns imagen.series
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
begin
  if favourite is null then
    raise exception 'favourite must be true or false, got null' using errcode = '22023';
  end if;
  update imagen.series s set favourite = set_favourite.favourite
  where s.id = set_favourite.series_id
  returning * into _series;
  if not found then
    raise exception 'series_id % is not one of your series', set_favourite.series_id using errcode = '22023';
  end if;
  return _series;
end;
$$;
grant execute on function imagen.set_favourite(uuid,boolean) to authenticated, service_role;
