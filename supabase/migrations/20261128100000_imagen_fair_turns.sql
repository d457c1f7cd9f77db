-- Claims take turns between users. Before, claims went strictly by queue order, so one user who
-- queued 100 tries made everybody else wait for all of them. Now the owner served least recently
-- goes first (owners never served before first of all, in the order they first queued); within one owner, series order, then
-- index order, as before.
--
-- imagen.owner_turns keeps when each owner was last served. A row is written for every owner who
-- queues a try (an insert trigger), and the claim stamps it in the same statement that takes the
-- try. The claim walks owners in turn order through an index and, for each, looks up the owner's
-- first runnable try through another index (owner_id, queued_at, series_idx) with FOR UPDATE
-- SKIP LOCKED; LIMIT 1 stops the walk at the first owner who has one, so a claim reads a few
-- index entries, whatever the length of the queue.

create table imagen.owner_turns (
  owner_id uuid primary key references auth.users (id) on delete cascade,
  last_claimed_at timestamptz,
  first_queued_at timestamptz not null default now()
);
comment on table imagen.owner_turns is
  'When each owner last had a try claimed: claims serve the owner served least recently first.';
create index owner_turns_turn_idx on imagen.owner_turns (last_claimed_at nulls first, first_queued_at, owner_id);

-- Nobody but the queue reads or writes it: RLS on, no user grants, and the one policy says so
-- (users see no row; the worker's service role bypasses RLS).
alter table imagen.owner_turns enable row level security;
revoke all on imagen.owner_turns from public, anon, authenticated;
grant select, insert, update, delete on imagen.owner_turns to service_role;

create policy "owner_turns: users see nothing" on imagen.owner_turns
  for select to authenticated using (false);

insert into imagen.owner_turns (owner_id, first_queued_at)
select j.owner_id, min(j.queued_at) from imagen.jobs j group by j.owner_id;

-- SECURITY DEFINER, owned by postgres: tries are inserted as the user, who must not get rights on
-- owner_turns (or could move their own turn). It writes only the owners of the inserted rows.
create function imagen.jobs_note_owner_turn() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into imagen.owner_turns (owner_id)
  select distinct n.owner_id from new_jobs n
  on conflict (owner_id) do nothing;
  return null;
end;
$$;
revoke execute on function imagen.jobs_note_owner_turn() from public, anon, authenticated;

create trigger jobs_note_owner_turn
  after insert on imagen.jobs
  referencing new table as new_jobs
  for each statement execute function imagen.jobs_note_owner_turn();

drop index imagen.jobs_claim_idx;
create index jobs_claim_idx on imagen.jobs (owner_id, queued_at, series_idx) where status = 'queued';

-- enable_sort = off: the walk must come from owner_turns_turn_idx. Sorting all owners instead
-- would run (and lock) every owner's first try before LIMIT 1 picks one, and a concurrent claimer
-- would then skip tries nobody takes.
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
returns setof imagen.jobs
language plpgsql
set search_path = ''
set enable_sort = off
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
  with picked as (
    select c.id, t.owner_id
    from imagen.owner_turns t
    cross join lateral (
      select q.id from imagen.jobs q
      where q.owner_id = t.owner_id and q.status = 'queued' and q.run_after <= now()
      order by q.queued_at, q.series_idx
      limit 1
      for update of q skip locked
    ) c
    order by t.last_claimed_at nulls first, t.first_queued_at, t.owner_id
    limit 1
  ), turn as (
    update imagen.owner_turns t set last_claimed_at = clock_timestamp()
    from picked p
    where t.owner_id = p.owner_id
  )
  update imagen.jobs j
  set status = 'running',
      attempts = j.attempts + 1,
      leased_by = claim_job.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = 0,
      started_at = now()
  from picked p
  where j.id = p.id
  returning j.*;
end;
$$;
