-- series.done's webhook asked "is anything of the series still queued or running" by listing the
-- statuses; it asks imagen_private.unfinished_statuses(), the one statement of that rule, now.
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
      'try_id', new.id, 'series_id', new.series_id, 'series_idx', new.series_idx, 'status', new.status,
      'image_id', new.image_id, 'bucket', _image.bucket, 'path', _image.path, 'error', new.error)));
  end if;
  if new.series_id is not null
     and coalesce(current_setting('imagen.series_done_' || replace(new.series_id::text, '-', ''), true), '') = '' then
    perform pg_advisory_xact_lock(hashtextextended('imagen.series_done:' || new.series_id::text, 0));
    if not exists (select from imagen.jobs j
                   where j.series_id = new.series_id and j.status = any(imagen_private.unfinished_statuses())) then
      perform set_config('imagen.series_done_' || replace(new.series_id::text, '-', ''), '1', true);
      perform imagen_private.queue_webhook(new.owner_id, 'series.done', (
        select jsonb_build_object('series_id', new.series_id,
                                  'done', count(*) filter (where j.status = 'done'),
                                  'failed', count(*) filter (where j.status = 'failed'),
                                  'cancelled', count(*) filter (where j.status = 'cancelled'))
        from imagen.jobs j where j.series_id = new.series_id));
    end if;
  end if;
  return null;
end;
$$;
