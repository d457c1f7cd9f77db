-- How the outside world hears about Imagen and where the pictures live: the private Broadcast
-- topics (per series, and the workers'), sent by triggers, and the private Storage bucket.
-- Publication changes, the realtime.messages and storage.objects policies (tables of the
-- platform's schemas) and the bucket row are not carried by `supabase db diff`: write them by hand
-- in the migration (supabase/schemas/README.md).

-- Nothing of Imagen's is in the supabase_realtime publication: Postgres Changes (refused when
-- the project allows private channels only, and checked against every subscriber's RLS one change
-- at a time) carries nothing; every live update is a Broadcast from the database (below). The
-- publication carries no deletes, should a table ever be added (RLS does not apply to DELETE
-- events, which go, primary key only, to every subscriber of a table).
alter publication supabase_realtime set (publish = 'insert, update');

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

-- Every live update goes out on a private Broadcast topic, sent by the database itself: a trigger
-- calls realtime.send(), which inserts a row into realtime.messages; Realtime reads it from the WAL
-- and delivers it to the channels joined to the topic, authorized by the read policy above. This
-- works with "private channels only" on, and costs no per-subscriber RLS check per change (which
-- Postgres Changes pays). Topics:
--   * 'series:<series uuid>' (the owner's): 'try' when a try's state, picture, error or cancel
--     flag changes (never for a heartbeat), 'tries_added' once per statement that adds tries,
--     'series' when the winner, the count or the favourite mark changes; progress is the
--     worker's, on the same topic.
--   * 'imagen:worker' (the service role's alone: no policy lets anyone else read it): 'queued',
--     once per statement that queues tries, the workers' wake-up hint.
-- SECURITY DEFINER, owned by postgres (which bypasses RLS, as on a hosted project): users insert
-- and update tries, but get no INSERT policy on realtime.messages, or they could send on any
-- topic. Trigger functions cannot be called directly.

-- A try as its owner may read it: only the columns granted to authenticated (never leased_by or
-- claim_id), so a message tells the owner nothing a select would not.
create or replace function imagen.jobs_broadcast_changed()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
declare
  visible jsonb;
begin
  select jsonb_object_agg(c.key, c.value) into visible
  from jsonb_each(to_jsonb(new)) c
  where has_column_privilege('authenticated', 'imagen.jobs', c.key, 'SELECT');
  perform realtime.send(
    jsonb_build_object('operation', tg_op, 'schema', tg_table_schema, 'table', tg_table_name, 'record', visible),
    'try', 'series:' || new.series_id::text, true
  );
  return null;
end;
$$;
create trigger jobs_broadcast_changed
  after update of status, image_id, error, cancel_requested on imagen.jobs
  for each row
  when (new.series_id is not null and (
    old.status is distinct from new.status or old.image_id is distinct from new.image_id
    or old.error is distinct from new.error or old.cancel_requested is distinct from new.cancel_requested))
  execute function imagen.jobs_broadcast_changed();

create or replace function imagen.jobs_broadcast_inserted()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
declare
  added record;
begin
  perform realtime.send('{}'::jsonb, 'queued', 'imagen:worker', true);
  for added in select a.series_id, count(*) as tries from new_jobs a where a.series_id is not null group by a.series_id loop
    perform realtime.send(
      jsonb_build_object('series_id', added.series_id, 'tries', added.tries), 'tries_added',
      'series:' || added.series_id::text, true
    );
  end loop;
  return null;
end;
$$;
create trigger jobs_broadcast_inserted
  after insert on imagen.jobs
  referencing new table as new_jobs
  for each statement execute function imagen.jobs_broadcast_inserted();

create or replace function imagen.series_broadcast_changed()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  perform realtime.send(
    jsonb_build_object('operation', tg_op, 'schema', tg_table_schema, 'table', tg_table_name, 'record', to_jsonb(new)),
    'series', 'series:' || new.id::text, true
  );
  return null;
end;
$$;
create trigger series_broadcast_changed
  after update of selected_image_id, count, favourite on imagen.series
  for each row
  when (old.selected_image_id is distinct from new.selected_image_id or old.count is distinct from new.count
        or old.favourite is distinct from new.favourite)
  execute function imagen.series_broadcast_changed();

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
