-- Series webhooks: a user registers endpoints (each with its own signing secret); the events
-- try.done, try.failed, series.done and winner.picked are written to an outbox,
-- imagen.webhook_deliveries, by the very transaction that causes them (triggers below), so none
-- is lost when it commits or invented when it rolls back. `imagen webhooks` (worker/imagen/
-- webhooks.py) delivers them, signed per Standard Webhooks, and retries for more than a day.
-- Users see and manage their own endpoints and see their own deliveries (RLS); only the service
-- role writes deliveries.

create or replace function imagen_private.new_webhook_secret()
 returns text
 language sql
 volatile
 set search_path to ''
as $$
  select 'whsec_' || encode(extensions.gen_random_bytes(32), 'base64');
$$;
grant execute on function imagen_private.new_webhook_secret() to authenticated, service_role;

create table imagen.webhook_endpoints (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  url text not null constraint webhook_endpoints_url_http
    check (url ~ '^https?://[^/\s?#]+([/?#]\S*)?$' and length(url) <= 2000),
  secret text not null default imagen_private.new_webhook_secret(),
  events text[] not null default array['try.done', 'try.failed', 'series.done', 'winner.picked']
    constraint webhook_endpoints_events_known check (
      cardinality(events) > 0 and events <@ array['try.done', 'try.failed', 'series.done', 'winner.picked']
    ),
  created_at timestamptz not null default now()
);
comment on table imagen.webhook_endpoints is
  'Where a user''s series events are sent, signed with the endpoint''s own secret.';

-- One row per event and endpoint. id is the webhook-id every attempt carries (receivers drop
-- repeats by it); attempts and next_attempt_at drive the retries; a claim pushes next_attempt_at
-- ahead as a lease, so a deliverer that dies hands its rows back.
create table imagen.webhook_deliveries (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references imagen.webhook_endpoints (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  event text not null,
  payload jsonb not null,
  created_at timestamptz not null default now(),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  delivered_at timestamptz,
  given_up_at timestamptz,
  last_status integer,
  last_error text
);
comment on table imagen.webhook_deliveries is
  'The webhook outbox: written by the transaction that caused the event, sent by imagen webhooks.';

create index webhook_endpoints_owner_id_idx on imagen.webhook_endpoints (owner_id);
create index webhook_deliveries_due_idx on imagen.webhook_deliveries (next_attempt_at)
  where delivered_at is null and given_up_at is null;
create index webhook_deliveries_endpoint_id_idx on imagen.webhook_deliveries (endpoint_id);
create index webhook_deliveries_owner_id_created_at_idx on imagen.webhook_deliveries (owner_id, created_at desc);

alter table imagen.webhook_endpoints enable row level security;
alter table imagen.webhook_deliveries enable row level security;
revoke all on imagen.webhook_endpoints, imagen.webhook_deliveries from public, anon, authenticated;
grant select, insert, update, delete on imagen.webhook_endpoints to service_role;
grant select, insert, update, delete on imagen.webhook_deliveries to service_role;
-- The service role bypasses RLS. The secret is the owner's to read: their receiver verifies with it.
grant select, delete on imagen.webhook_endpoints to authenticated;
grant insert (url, events) on imagen.webhook_endpoints to authenticated;
grant update (url, events) on imagen.webhook_endpoints to authenticated;
grant select on imagen.webhook_deliveries to authenticated;
create policy "webhook_endpoints: owners manage theirs" on imagen.webhook_endpoints
  for all to authenticated
  using (owner_id = (select auth.uid()))
  with check (owner_id = (select auth.uid()));
create policy "webhook_deliveries: owners read theirs" on imagen.webhook_deliveries
  for select to authenticated
  using (owner_id = (select auth.uid()));

-- One event into the outbox: a row for each of the owner's endpoints that asked for it, and a
-- NOTIFY that wakes the deliverer when the transaction commits. Bodies stay small: ids and paths.
create or replace function imagen_private.queue_webhook(owner_id uuid, event text, data jsonb)
 returns void
 language plpgsql
 set search_path to ''
as $$
begin
  insert into imagen.webhook_deliveries (endpoint_id, owner_id, event, payload)
  select e.id, e.owner_id, queue_webhook.event,
         jsonb_build_object('type', queue_webhook.event,
                            'timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                            'data', queue_webhook.data)
  from imagen.webhook_endpoints e
  where e.owner_id = queue_webhook.owner_id and queue_webhook.event = any(e.events);
  if found then
    perform pg_notify('imagen_webhooks', '');
  end if;
end;
$$;

-- try.done / try.failed, and series.done once none of the series' tries is queued or running.
-- SECURITY DEFINER (owned by postgres): users cause these (a cancel ends a series) but may not
-- write the outbox. series.done takes a lock on the series first (a transaction-level advisory
-- lock, not the series row, which select_image holds while it stops the rest), so of two tries
-- finishing at once the later sees the earlier's commit; every path takes it after its tries'
-- row locks (stop_series_tries). One statement that ends several tries (a cancel) sends one
-- series.done, remembered for the transaction in a local setting.
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
      'try_id', new.id, 'kind', new.kind, 'series_id', new.series_id, 'series_idx', new.series_idx, 'status', new.status,
      'image_id', new.image_id, 'bucket', _image.bucket, 'path', _image.path, 'error', new.error)));
  end if;
  if new.series_id is not null
     and coalesce(current_setting('imagen.series_done_' || replace(new.series_id::text, '-', ''), true), '') = '' then
    perform pg_advisory_xact_lock(hashtextextended('imagen.series_done:' || new.series_id::text, 0));
    if not exists (select from imagen.jobs j
                   where j.series_id = new.series_id and j.status = any(imagen_private.unfinished_statuses())) then
      perform set_config('imagen.series_done_' || replace(new.series_id::text, '-', ''), '1', true);
      perform imagen_private.queue_webhook(new.owner_id, 'series.done', (
        select jsonb_build_object('series_id', new.series_id, 'kind', new.kind,
                                  'done', count(*) filter (where j.status = 'done'),
                                  'failed', count(*) filter (where j.status = 'failed'),
                                  'cancelled', count(*) filter (where j.status = 'cancelled'))
        from imagen.jobs j where j.series_id = new.series_id));
    end if;
  end if;
  return null;
end;
$$;
create trigger jobs_webhook_events
  after update of status on imagen.jobs
  for each row when (new.status in ('done', 'failed', 'cancelled') and old.status is distinct from new.status)
  execute function imagen_private.jobs_webhook_events();

create or replace function imagen_private.series_webhook_events()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  perform imagen_private.queue_webhook(new.owner_id, 'winner.picked', jsonb_build_object(
    'series_id', new.id, 'kind', new.kind, 'image_id', new.selected_image_id,
    'try_id', (select i.job_id from imagen.images i where i.id = new.selected_image_id)));
  return null;
end;
$$;
create trigger series_webhook_events
  after update of selected_image_id on imagen.series
  for each row when (new.selected_image_id is not null and new.selected_image_id is distinct from old.selected_image_id)
  execute function imagen_private.series_webhook_events();
