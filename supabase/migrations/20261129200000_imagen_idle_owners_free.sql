-- A claim whose cost does not grow with idle owners, and the queue order stated once (issue 23).
-- Before, the claim walked every owner in turn order and probed each one's tries, so owners
-- served long ago with nothing queued were probed on every claim (60.7 ms a claim with 100,000
-- of them, 0.89 ms with none). Now owner_turns counts each owner's queued tries and the claim's
-- index holds only owners with some. The order, stated twice before (claim_next's ORDER BY and
-- the view imagen.queue's), is now two functions both use: imagen_private.turn_order and
-- line_order; the claim's indexes are built on them. The definitions and their reasons:
-- supabase/schemas/15_queue_order.sql, 20_tables.sql, 50_worker_rpcs.sql, 60_triggers_events.sql,
-- 80_queue.sql.

-- Owners take turns: owners never served go first, in the order they first queued; then the
-- owner served least recently. owner_id breaks ties, so the order is total.
create type imagen_private.turn_key as (
  served boolean,
  last_claimed_at timestamptz,
  first_queued_at timestamptz,
  owner_id uuid
);

create or replace function imagen_private.turn_order(last_claimed_at timestamptz, first_queued_at timestamptz, owner_id uuid)
 returns imagen_private.turn_key
 language sql
 immutable
 set search_path to ''
as $$
  select row(last_claimed_at is not null, coalesce(last_claimed_at, '-infinity'), first_queued_at, owner_id)::imagen_private.turn_key;
$$;
grant execute on function imagen_private.turn_order(timestamptz,timestamptz,uuid) to authenticated, service_role;

-- One owner's line: queue time, a series in index order, solo tries after a series' tries of the
-- same instant; the try's id breaks ties, so the order is total.
create type imagen_private.line_key as (
  queued_at timestamptz,
  solo boolean,
  series_idx integer,
  id uuid
);

create or replace function imagen_private.line_order(queued_at timestamptz, series_idx integer, id uuid)
 returns imagen_private.line_key
 language sql
 immutable
 set search_path to ''
as $$
  select row(queued_at, series_idx is null, series_idx, id)::imagen_private.line_key;
$$;
grant execute on function imagen_private.line_order(timestamptz,integer,uuid) to authenticated, service_role;

alter table imagen.owner_turns add column queued_tries integer not null default 0
  constraint owner_turns_queued_tries_nonnegative check (queued_tries >= 0);
comment on table imagen.owner_turns is
  'When each owner last had a try claimed and how many they have queued: claims serve the owner served least recently first.';

drop index imagen.jobs_claim_idx;
create index jobs_claim_idx on imagen.jobs (owner_id, imagen_private.line_order(queued_at, series_idx, id))
  where status = 'queued';
drop index imagen.owner_turns_turn_idx;
create index owner_turns_turn_idx on imagen.owner_turns (imagen_private.turn_order(last_claimed_at, first_queued_at, owner_id))
  where queued_tries > 0;

-- The claim, in one write per try. Expired leases first (back to the queue, or failed/cancelled);
-- then, in the queue order (imagen_private.turn_order and line_order), the first owner with a
-- due queued try, and that owner's first such try. Only owners with queued tries are walked
-- (owner_turns_turn_idx), so owners long idle cost nothing. The owner's turn moves by the
-- jobs_note_owner_turn trigger; claim_id is recorded in the update, so a try costs one row
-- version and one Realtime event.
create or replace function imagen.claim_next(worker_id text, lease_seconds double precision, claim_id uuid)
 returns setof imagen.jobs
 language plpgsql
 set search_path to ''
 set enable_sort to 'off'
as $$
begin
  if worker_id is null or btrim(worker_id) = '' then
    raise exception 'worker_id must not be empty' using errcode = '22023';
  end if;
  if lease_seconds is null or lease_seconds <= 0 then
    raise exception 'lease_seconds must be positive' using errcode = '22023';
  end if;

  -- Expired leases: the holder crashed or hung. Out of attempts means failed, a cancel request
  -- means cancelled, otherwise back to the front of the queue.
  update imagen.jobs j
  set status = case
        when j.cancel_requested then 'cancelled'
        when j.attempts >= j.max_attempts then 'failed'
        else 'queued'
      end,
      error = case
        when j.attempts >= j.max_attempts and not j.cancel_requested
          then format('the worker rendering it stopped answering (%s of %s attempts)', j.attempts, j.max_attempts)
        else j.error
      end,
      finished_at = case when j.cancel_requested or j.attempts >= j.max_attempts then now() end,
      lease_expires_at = null
  where j.id in (
    select e.id from imagen.jobs e
    where e.status = 'running' and e.lease_expires_at < now()
    for update skip locked
  );

  return query
  update imagen.jobs j
  set status = 'running',
      attempts = j.attempts + 1,
      leased_by = claim_next.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = 0,
      started_at = now(),
      claim_id = claim_next.claim_id
  where j.id = (
    select c.id
    from imagen.owner_turns t
    cross join lateral (
      select q.id from imagen.jobs q
      where q.owner_id = t.owner_id and q.status = 'queued' and q.run_after <= now()
      order by imagen_private.line_order(q.queued_at, q.series_idx, q.id)
      limit 1
      for update of q skip locked
    ) c
    where t.queued_tries > 0
    order by imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
    limit 1
  )
  returning j.*;
end;
$$;
grant execute on function imagen.claim_next(text,double precision,uuid) to service_role;


-- owner_turns follows jobs: queued_tries counts each owner's queued tries (the claim walks only
-- owners with some), and a claim (queued -> running) sends the owner to the back of the turns.
-- SECURITY DEFINER, owned by postgres: tries are inserted, cancelled, retried and deleted as the
-- user, who must not get rights on owner_turns (or could move their own turn). It writes only the
-- owners of the changed rows. Inserts and deletes per statement (a series is one write per owner);
-- an update per row, only when a try enters or leaves the queue.
create or replace function imagen.jobs_note_owner_turn()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into imagen.owner_turns as t (owner_id, queued_tries)
    select n.owner_id, count(*) filter (where n.status = 'queued') from new_jobs n group by n.owner_id
    on conflict (owner_id) do update set queued_tries = t.queued_tries + excluded.queued_tries
    where excluded.queued_tries > 0;
  elsif tg_op = 'UPDATE' then
    update imagen.owner_turns t
    set queued_tries = t.queued_tries + case when new.status = 'queued' then 1 else -1 end,
        last_claimed_at = case when old.status = 'queued' and new.status = 'running' then clock_timestamp()
                               else t.last_claimed_at end
    where t.owner_id = new.owner_id;
  else
    update imagen.owner_turns t set queued_tries = t.queued_tries - o.tries
    from (select d.owner_id, count(*) as tries from old_jobs d where d.status = 'queued' group by d.owner_id) o
    where t.owner_id = o.owner_id;
  end if;
  return null;
end;
$$;
create trigger jobs_note_owner_turn_moved
  after update of status on imagen.jobs
  for each row when ((old.status = 'queued') is distinct from (new.status = 'queued'))
  execute function imagen.jobs_note_owner_turn();
create trigger jobs_note_owner_turn_deleted
  after delete on imagen.jobs
  referencing old table as old_jobs
  for each statement execute function imagen.jobs_note_owner_turn();

create or replace view imagen.queue with (security_invoker = true) as
with recent as (
  select avg(extract(epoch from d.finished_at - d.started_at))::double precision as seconds
  from (
    select j.finished_at, j.started_at from imagen.jobs j
    where j.status = 'done' and j.started_at is not null and j.finished_at is not null
    order by j.finished_at desc
    limit 20
  ) d
), rendering as (
  select count(distinct j.leased_by) as workers,
         coalesce(sum(greatest(r.seconds - extract(epoch from now() - j.started_at)::double precision, 0)), 0)
           as seconds_left
  from imagen.jobs j cross join recent r
  where j.status = 'running'
), lines as (
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.queued_at,
         row_number() over (
           partition by j.owner_id order by imagen_private.line_order(j.queued_at, j.series_idx, j.id)
         ) as place_in_line
  from imagen.jobs j
  where j.status = 'queued'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
         ) as place
  from lines l join imagen.owner_turns t on t.owner_id = l.owner_id
)
select p.id, p.owner_id, p.series_id, p.series_idx, p.status, p.place, p.place_in_line,
       now() + make_interval(secs => (g.seconds_left + (p.place - 1) * r.seconds) / greatest(g.workers, 1))
         as expected_start
from places p cross join recent r cross join rendering g
union all
select j.id, j.owner_id, j.series_id, j.series_idx, j.status, null, null, j.started_at
from imagen.jobs j
where j.status = 'running';

-- The count, filled once the trigger keeps it: under a lock that waits for every write to jobs in
-- flight and holds off new ones, so the count starts exact; later writes go through the trigger.
-- (The CLI runs a migration's statements one by one, so the lock lives in one DO block.)
do $$
begin
  lock table imagen.jobs in share row exclusive mode;
  update imagen.owner_turns t
  set queued_tries = coalesce(q.tries, 0)
  from imagen.owner_turns o
  left join (select j.owner_id, count(*) as tries from imagen.jobs j where j.status = 'queued' group by j.owner_id) q
    on q.owner_id = o.owner_id
  where t.owner_id = o.owner_id;
end;
$$;
