-- Pick and stop: a user who has found the winner can stop the rest of the series in the same
-- call, so no GPU time goes on tries nobody will look at. select_image gains stop_rest (default
-- false): its unfinished tries stop as cancel_series stops them, in the same transaction as the
-- pick (queued ones are cancelled at once; a running one is flagged and its worker stops at its
-- next step; finished ones stay as they are). The two-argument function is dropped rather than
-- overloaded, so PostgREST always finds one select_image, and callers that name two arguments
-- get the default.

drop function imagen.select_image(uuid, uuid);

create function imagen.select_image(series_id uuid, image_id uuid, stop_rest boolean default false)
returns imagen.series
language plpgsql
set search_path = ''
as $$
declare
  _series imagen.series;
begin
  update imagen.series s set selected_image_id = select_image.image_id
  where s.id = select_image.series_id
  returning * into _series;
  if not found then
    raise exception 'series_id % is not one of your series', select_image.series_id
      using errcode = '22023';
  end if;
  if coalesce(select_image.stop_rest, false) then
    update imagen.jobs j set status = 'cancelled'
    where j.series_id = _series.id and j.status = 'queued';
    update imagen.jobs j set cancel_requested = true
    where j.series_id = _series.id and j.status = 'running' and not j.cancel_requested;
  end if;
  return _series;
exception
  when foreign_key_violation then
    raise exception 'image_id % is not an image of series %', select_image.image_id, select_image.series_id
      using errcode = '22023';
end;
$$;

revoke execute on function imagen.select_image(uuid, uuid, boolean) from public, anon;
grant execute on function imagen.select_image(uuid, uuid, boolean) to authenticated, service_role;
