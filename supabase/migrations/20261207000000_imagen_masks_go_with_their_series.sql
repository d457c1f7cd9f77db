-- A deleted edit series takes its mask with it: the mask (settings.mask_path, under the owner's
-- masks folder) is queued in imagen.objects_to_delete, which the worker empties, once no other
-- series of the owner names it.

create or replace function imagen.series_queue_mask_delete()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  insert into imagen.objects_to_delete (owner_id, bucket, path)
  select distinct gone.owner_id,
         -- Where its picture is (a worker's local storage keeps masks beside pictures), else imagen.
         coalesce((select i.bucket from imagen.images i where i.id = gone.parent_image_id), 'imagen'),
         gone.settings->>'mask_path'
  from old_series gone
  where gone.settings->>'mask_path' is not null
    and not exists (select from imagen.series kept
                    where kept.owner_id = gone.owner_id and kept.settings->>'mask_path' = gone.settings->>'mask_path');
  return null;
end;
$$;
create trigger series_queue_mask_delete
  after delete on imagen.series
  referencing old table as old_series
  for each statement execute function imagen.series_queue_mask_delete();
