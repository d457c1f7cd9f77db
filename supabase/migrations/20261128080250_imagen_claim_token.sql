-- A claim whose answer never arrived (a gateway timeout after the commit) must not strand its
-- try until the lease runs out. The worker names each claim with a fresh claim_id and sends the
-- same id when it retries; a retry hands back what the first attempt took. This is a second
-- claim_job with claim_id required (no default), so PostgREST picks it only when the caller
-- names claim_id, and the two-argument claim_job stays as it was.

alter table imagen.jobs add column claim_id uuid;
comment on column imagen.jobs.claim_id is 'The claim that took this try (a retried claim finds it).';
create index jobs_claim_id_idx on imagen.jobs (claim_id) where claim_id is not null;

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

revoke execute on function imagen.claim_job(text, double precision, uuid) from public, anon, authenticated;
grant execute on function imagen.claim_job(text, double precision, uuid) to service_role;
