-- How the outside world hears about Imagen and where the pictures live: the supabase_realtime
-- publication, the private Broadcast topic per series, and the private Storage bucket.
-- Publication changes, the realtime.messages and storage.objects policies (tables of the
-- platform's schemas) and the bucket row are not carried by `supabase db diff`: write them by hand
-- in the migration (supabase/schemas/README.md).

-- RLS does not apply to DELETE events, which go, primary key only, to every subscriber of a
-- table: the project's one publication carries no deletes. Published: jobs (the worker's INSERT
-- wake-ups, users' state changes, a finished try's image_id) and series (winner and count).
alter publication supabase_realtime set (publish = 'insert, update');
alter publication supabase_realtime add table imagen.series, imagen.jobs;

-- Per-step progress and previews go out on a private Broadcast topic per series,
-- 'series:<series uuid>', which only the series' owner may receive. Realtime checks a join by
-- selecting from realtime.messages as the user with realtime.topic() set to the topic; the row
-- must be a message of that topic. Nobody gets an INSERT policy: only the worker (service role,
-- which bypasses RLS) sends on these topics.
create policy "series broadcast: owners receive their series" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and (select realtime.topic()) like 'series:%'
    and exists (
      select from imagen.series s
      where s.id::text = substr((select realtime.topic()), length('series:') + 1)
        and s.owner_id = (select auth.uid())
    )
  );

-- Pictures live at {owner}/{series_id or solo}/{job_id}.png, each with its WebP thumbnail
-- {job_id}.webp beside it (imagen.thumbnail); only the service role writes.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('imagen', 'imagen', false, 52428800, array['image/png', 'image/webp'])
on conflict (id) do nothing;

create policy "imagen bucket: owners read their own folder" on storage.objects
  for select to authenticated
  using (bucket_id = 'imagen' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "imagen bucket: owners delete their own folder" on storage.objects
  for delete to authenticated
  using (bucket_id = 'imagen' and (storage.foldername(name))[1] = (select auth.uid())::text);

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
