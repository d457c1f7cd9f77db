-- Two things a worker on a hosted project needs that the first worker RPCs lacked.
--
-- 1. A claim whose answer never arrived (a gateway timeout after the commit) must not strand its
--    try until the lease runs out. The worker names each claim with a fresh claim_id and sends
--    the same id when it retries; a retry hands back what the first attempt took. This is a
--    second claim_job with claim_id required (no default), so PostgREST picks it only when the
--    caller names claim_id, and the two-argument claim_job stays as it was.
-- 2. The worker removes the Storage objects listed in objects_to_delete (pictures of deleted
--    series and images), then forgets the rows: reading first and forgetting after, a worker that
--    dies in between removes the same objects again next time, which is harmless.

alter table imagen.jobs add column claim_id uuid;
comment on column imagen.jobs.claim_id is 'The claim that took this try (a retried claim finds it).';
create index jobs_claim_id_idx on imagen.jobs (claim_id) where claim_id is not null;

-- A user's own try, as the user RPCs return it: every column of imagen.jobs in order, with the
-- worker's columns users may not read (leased_by, claim_id) as NULL.
create or replace function imagen.own_job(job_id uuid) returns imagen.jobs
language plpgsql
stable
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  select j.id, j.owner_id, j.series_id, j.series_idx, j.prompt, j.model, j.width, j.height, j.steps,
         j.style, j.seed, j.status, j.cancel_requested, j.attempts, j.max_attempts, j.run_after,
         null, j.lease_expires_at, j.progress, j.error, j.image_id, j.created_at, j.started_at,
         j.finished_at, j.updated_at, j.queued_at, null
  into _job
  from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;

create function imagen.claim_job(worker_id text, lease_seconds double precision, claim_id uuid)
returns setof imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
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
  select * into _job from imagen.claim_job(claim_job.worker_id, claim_job.lease_seconds);
  if _job.id is null then
    return;
  end if;
  return query update imagen.jobs j set claim_id = claim_job.claim_id where j.id = _job.id returning j.*;
end;
$$;

create function imagen.pending_object_deletions(max_rows integer default 100)
returns setof imagen.objects_to_delete
language sql
set search_path = ''
as $$
  select * from imagen.objects_to_delete order by id limit greatest(max_rows, 0);
$$;

create function imagen.forget_object_deletions(ids bigint[]) returns integer
language sql
set search_path = ''
as $$
  with gone as (delete from imagen.objects_to_delete where id = any(ids) returning 1)
  select count(*)::integer from gone;
$$;

revoke execute on function
  imagen.claim_job(text, double precision, uuid),
  imagen.pending_object_deletions(integer),
  imagen.forget_object_deletions(bigint[])
from public, anon, authenticated;
grant execute on function
  imagen.claim_job(text, double precision, uuid),
  imagen.pending_object_deletions(integer),
  imagen.forget_object_deletions(bigint[])
to service_role;
