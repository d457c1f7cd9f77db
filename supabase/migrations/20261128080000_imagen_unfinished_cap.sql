-- The cap on a user's unfinished tries, made to hold: its value lives in a table only postgres
-- and service_role write (a GUC could be raised by any session with set_config), and one
-- owner's requests are counted one at a time (two concurrent create_series could both fit).
-- (The job guard trusts the same named roles from 20261128080200_imagen_queue_order.)

-- The worker (service_role) and the project owner (postgres) drive every transition and are not
-- bound by users' caps. Named roles, not is_superuser: on a hosted project postgres is no superuser.
create function imagen.caller_is_service() returns boolean
language sql
stable
set search_path = ''
as $$
  select current_user in ('postgres', 'service_role')
$$;

-- The default (owner_id NULL) and per-user overrides. No row for a user and no default row
-- means no cap. Users may read the rows that apply to them: the cap trigger runs as the user
-- (SECURITY INVOKER), and a client may show the limit; only postgres and service_role write.
create table imagen.limits (
  id bigint generated always as identity primary key,
  owner_id uuid references auth.users (id) on delete cascade,
  max_unfinished_tries integer not null constraint limits_max_unfinished_tries_range check (max_unfinished_tries >= 0),
  constraint limits_owner_id_key unique nulls not distinct (owner_id)
);
comment on table imagen.limits is 'Per-user limits; the row with owner_id NULL is the default.';

insert into imagen.limits (owner_id, max_unfinished_tries) values (null, 50);

alter table imagen.limits enable row level security;
revoke all on imagen.limits from public, anon, authenticated;
grant select on imagen.limits to authenticated;
grant select, insert, update, delete on imagen.limits to service_role;

create policy "limits: users read the default and their own" on imagen.limits
  for select to authenticated using (owner_id is null or owner_id = (select auth.uid()));

-- owner_id's own limit if set, else the default.
create function imagen.max_unfinished_tries(owner_id uuid) returns integer
language sql
stable
set search_path = ''
as $$
  select l.max_unfinished_tries from imagen.limits l
  where l.owner_id = max_unfinished_tries.owner_id or l.owner_id is null
  order by l.owner_id nulls last
  limit 1
$$;

-- Kept for callers of the old signature: the caller's own limit.
create or replace function imagen.max_unfinished_tries() returns integer
language sql
stable
set search_path = ''
as $$
  select imagen.max_unfinished_tries((select auth.uid()))
$$;

-- Checked once per statement over the owners it queued tries for, each under a per-owner lock
-- held to the end of the transaction: a concurrent request of the same owner waits, then (read
-- committed: every statement here takes a fresh snapshot) counts the tries this one committed.
create or replace function imagen.jobs_enforce_unfinished_cap() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _owner uuid;
  _unfinished integer;
  _limit integer;
begin
  -- The cap protects the queue from users; the worker requeueing a try is not a new request.
  if imagen.caller_is_service() then
    return null;
  end if;
  for _owner in select distinct c.owner_id from changed c where c.status = 'queued' order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('imagen.unfinished_tries:' || _owner::text, 0));
    _limit := imagen.max_unfinished_tries(_owner);
    select count(*) into _unfinished
    from imagen.jobs j
    where j.owner_id = _owner and j.status in ('queued', 'running');
    if _unfinished > _limit then
      raise exception 'too many unfinished tries: this would make % queued or running, the limit is %',
        _unfinished, _limit
        using errcode = 'P0001',
              hint = 'wait for some tries to finish or cancel them';
    end if;
  end loop;
  return null;
end;
$$;

revoke execute on function imagen.caller_is_service(), imagen.max_unfinished_tries(uuid) from public, anon;
grant execute on function imagen.caller_is_service(), imagen.max_unfinished_tries(uuid)
  to authenticated, service_role;
