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

-- What is wrong with an endpoint's URL, or NULL: the rules the deliverer reads it by
-- (worker/imagen/webhooks/addresses.py), so a URL it could not read is refused when it is
-- registered, not retried at every delivery. Whether its host is a public address is the
-- deliverer's to judge, at each delivery (a name can resolve elsewhere tomorrow).
create or replace function imagen_private.webhook_url_problem(url text)
 returns text
 language plpgsql
 immutable
 set search_path to ''
as $$
declare
  _authority text := substring(url from '^[A-Za-z]+://([^/?#]*)');
  _host text;
  _port text;
  _label text;
begin
  if url ~ '[\x01-\x20\x7f]' or length(url) > 2000 then
    return 'it has spaces or control characters, or is over 2000 characters';
  end if;
  if url !~* '^https?://' then
    return 'it must start with http:// or https://';
  end if;
  if strpos(_authority, '\') > 0 then
    return 'a backslash before the path';
  end if;
  _authority := regexp_replace(_authority, '^.*@', '');  -- user info: up to the last @
  if left(_authority, 1) = '[' then
    if _authority !~ '^\[[^\]]*\](:.*)?$' then
      return 'an IPv6 address must be written [address] or [address]:port';
    end if;
    _host := substring(_authority from '^\[([^\]]*)\]');
    _port := substring(_authority from '^\[[^\]]*\]:(.*)$');
    begin
      if family(_host::inet) <> 6 or _host ~ '[/%]' then
        return format('[%s] is not an IPv6 address', _host);
      end if;
    exception when others then
      return format('[%s] is not an IPv6 address', _host);
    end;
  else
    _host := split_part(_authority, ':', 1);
    _port := nullif(substring(_authority from ':(.*)$'), '');
    _host := lower(regexp_replace(_host, '\.$', ''));
    if _host = '' or length(_host) > 253 then
      return 'the host must be 1 to 253 characters';
    end if;
    foreach _label in array string_to_array(_host, '.') loop
      if _host ~ '^[\x21-\x7e]*$' and _label !~ '^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$'
         or _label = '' or length(_label) > 63 then
        return 'each part of the host between dots must be 1 to 63 letters, digits, - or _';
      end if;
    end loop;
  end if;
  if _port is not null and (_port !~ '^[0-9]{1,5}$' or _port::integer not between 1 and 65535) then
    return format('the port %L is not a number from 1 to 65535', _port);
  end if;
  return null;
end;
$$;
grant execute on function imagen_private.webhook_url_problem(text) to authenticated, service_role;

create or replace function imagen_private.webhook_endpoints_check_url()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text := imagen_private.webhook_url_problem(new.url);
begin
  if _problem is not null then
    raise exception 'url: %', _problem using errcode = '22023';
  end if;
  return new;
end;
$$;
create trigger webhook_endpoints_check_url
  before insert or update of url on imagen.webhook_endpoints
  for each row execute function imagen_private.webhook_endpoints_check_url();

-- The cap on a user's endpoints (imagen.limits, as the cap on tries): each event is a delivery per
-- endpoint, so endpoints are what one user's share of the deliverer grows with. Per owner under a
-- lock held to the end of the transaction, as check_unfinished_cap; PT429 (HTTP 429), or PT403
-- for an anonymous user whose cap is 0 (the default).
create or replace function imagen_private.webhook_endpoints_enforce_cap()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _owner uuid;
  _count integer;
  _limit integer;
begin
  if imagen_private.caller_is_service() then
    return null;
  end if;
  for _owner in select distinct c.owner_id from changed c order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('imagen.webhook_endpoints:' || _owner::text, 0));
    _limit := imagen_private.max_webhook_endpoints(_owner);
    select count(*) into _count from imagen.webhook_endpoints e where e.owner_id = _owner;
    if _count > _limit and _limit = 0 and imagen_private.is_anonymous(_owner) then
      raise exception 'anonymous users cannot register webhook endpoints: sign up with an email address'
        using errcode = 'PT403';
    elsif _count > _limit then
      raise exception 'too many webhook endpoints: you would have %, the limit is %', _count, _limit
        using errcode = 'PT429',
              detail = json_build_object('endpoints', _count, 'limit', _limit)::text,
              hint = 'delete an endpoint you no longer use, or send several events to one endpoint';
    end if;
  end loop;
  return null;
end;
$$;
create trigger webhook_endpoints_enforce_cap
  after insert on imagen.webhook_endpoints
  referencing new table as changed
  for each statement execute function imagen_private.webhook_endpoints_enforce_cap();

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
