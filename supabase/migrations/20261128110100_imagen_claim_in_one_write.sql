-- A claim writes its try once. The claim with a claim_id (the one workers use) took the try with
-- the fair-turn claim and then wrote claim_id in a second UPDATE: two row versions, and two
-- Realtime change events to the owner, per try. Now one function takes the try and records
-- claim_id in the same UPDATE; both claim_job variants call it.

-- The fair-turn claim of 20261128100000, with the claim's id written in the same update.
create function imagen.claim_next(worker_id text, lease_seconds double precision, claim_id uuid)
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
      leased_by = claim_next.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = 0,
      started_at = now(),
      claim_id = claim_next.claim_id
  from picked p
  where j.id = p.id
  returning j.*;
end;
$$;
revoke execute on function imagen.claim_next(text, double precision, uuid) from public, anon, authenticated;
grant execute on function imagen.claim_next(text, double precision, uuid) to service_role;

create or replace function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
returns setof imagen.jobs
language sql
set search_path = ''
as $$
  select * from imagen.claim_next(worker_id, lease_seconds, null);
$$;

create or replace function imagen.claim_job(worker_id text, lease_seconds double precision, claim_id uuid)
returns setof imagen.jobs
language plpgsql
set search_path = ''
as $$
begin
  if claim_id is null then
    raise exception 'claim_id must not be null' using errcode = '22023';
  end if;
  -- A retried claim: the first attempt committed, its answer was lost. Hand the try back.
  return query
  update imagen.jobs j set lease_expires_at = now() + make_interval(secs => lease_seconds)
  where j.claim_id = claim_job.claim_id and j.status = 'running' and j.leased_by = claim_job.worker_id
  returning j.*;
  if found then
    return;
  end if;
  return query select * from imagen.claim_next(claim_job.worker_id, claim_job.lease_seconds, claim_job.claim_id);
end;
$$;
