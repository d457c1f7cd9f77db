-- Issue 32: the doors a user's own settings open.
-- Anonymous users (Auth's anonymous sign-ins) get limits of their own, read from imagen.limits'
-- new anonymous default row: no GPU time and no webhook endpoints unless an operator raises it;
-- the cap on unfinished tries tells them to sign up (PT403). Webhook endpoints are capped per
-- user (imagen.limits.max_webhook_endpoints, 10 by default) and their URLs checked when they are
-- registered (22023 naming what is wrong, nothing stored), so a URL the deliverer cannot read is
-- never queued at every event.

alter table imagen.limits add column anonymous boolean not null default false;
alter table imagen.limits add column max_webhook_endpoints integer
  constraint limits_max_webhook_endpoints_range check (max_webhook_endpoints >= 0);
alter table imagen.limits drop constraint limits_owner_id_key;
alter table imagen.limits add constraint limits_owner_id_key unique (owner_id);
alter table imagen.limits add constraint limits_anonymous_is_a_default check (not (anonymous and owner_id is not null));
create unique index limits_default_key on imagen.limits (anonymous) where owner_id is null;
comment on table imagen.limits is
  'Per-user limits; the rows with owner_id NULL are the defaults (anonymous: for anonymous users).';
update imagen.limits set max_webhook_endpoints = 10 where owner_id is null;
insert into imagen.limits (owner_id, anonymous, max_unfinished_tries, max_webhook_endpoints) values (null, true, 0, 0);

create or replace function imagen_private.is_anonymous(owner_id uuid)
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select is_anonymous.owner_id = (select auth.uid())
     and coalesce(((select auth.jwt()) ->> 'is_anonymous')::boolean, false)
$$;
grant execute on function imagen_private.is_anonymous(uuid) to authenticated, service_role;

create or replace function imagen_private.max_unfinished_tries(owner_id uuid)
 returns integer
 language sql
 stable
 set search_path to ''
as $$
  select coalesce(
    (select l.max_unfinished_tries from imagen.limits l
     where l.owner_id = max_unfinished_tries.owner_id
        or (l.owner_id is null and l.anonymous = imagen_private.is_anonymous(max_unfinished_tries.owner_id))
     order by l.owner_id nulls last
     limit 1),
    case when imagen_private.is_anonymous(max_unfinished_tries.owner_id) then 0 end)
$$;
grant execute on function imagen_private.max_unfinished_tries(uuid) to authenticated, service_role;

create or replace function imagen_private.max_webhook_endpoints(owner_id uuid)
 returns integer
 language sql
 stable
 set search_path to ''
as $$
  select coalesce(
    (select l.max_webhook_endpoints from imagen.limits l
     where (l.owner_id = max_webhook_endpoints.owner_id
            or (l.owner_id is null and l.anonymous = imagen_private.is_anonymous(max_webhook_endpoints.owner_id)))
       and l.max_webhook_endpoints is not null
     order by l.owner_id nulls last
     limit 1),
    case when imagen_private.is_anonymous(max_webhook_endpoints.owner_id) then 0 end)
$$;
grant execute on function imagen_private.max_webhook_endpoints(uuid) to authenticated, service_role;

create or replace function imagen_private.check_unfinished_cap(owner_id uuid, asked integer)
 returns void
 language plpgsql
 set search_path to ''
as $$
declare
  _unfinished integer;
  _limit integer;
begin
  perform pg_advisory_xact_lock(hashtextextended('imagen.unfinished_tries:' || owner_id::text, 0));
  _limit := imagen_private.max_unfinished_tries(owner_id);
  select count(*) into _unfinished
  from imagen.jobs j
  where j.owner_id = check_unfinished_cap.owner_id and j.status = any(imagen_private.unfinished_statuses());
  if _unfinished > _limit and _limit = 0 and imagen_private.is_anonymous(check_unfinished_cap.owner_id) then
    raise exception 'anonymous users get no GPU time: sign up with an email address to render pictures'
      using errcode = 'PT403',
            detail = json_build_object('unfinished', _unfinished - asked, 'asked', asked, 'limit', _limit)::text,
            hint = 'sign up (or link an email address to this account), then try again';
  end if;
  if _unfinished > _limit then
    raise exception 'too many unfinished tries: you have % queued or running and asked for % more, the limit is %',
      _unfinished - asked, asked, _limit
      using errcode = 'PT429',
            detail = json_build_object('unfinished', _unfinished - asked, 'asked', asked, 'limit', _limit)::text,
            hint = 'wait for some tries to finish or cancel some, then try again';
  end if;
end;
$$;
grant execute on function imagen_private.check_unfinished_cap(uuid,integer) to authenticated, service_role;

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
