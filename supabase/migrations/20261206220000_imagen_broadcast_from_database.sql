-- Every live update on a private Broadcast topic, sent by the database (issue 33). The worker's
-- wake-up moves from Postgres Changes on imagen.jobs (a public channel, refused when the project
-- allows private channels only) to the topic 'imagen:worker', which only the service role reads;
-- the series page's try and series changes move to the owner's private topic 'series:<id>', where
-- progress already was. Postgres Changes no longer carries anything of Imagen's: the tables leave
-- the publication.

alter publication supabase_realtime drop table imagen.series, imagen.jobs;

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
