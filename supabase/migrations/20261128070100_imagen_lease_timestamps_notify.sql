-- Three rules that were written out in every function that needed them, now written once:
-- who holds a try (imagen.held_job), when a try last changed (a trigger sets updated_at), and
-- where wake-up hints go (imagen.notify_jobs).

-- The try job_id, locked for the rest of the transaction, if worker_id holds its lease (it is
-- running under that worker); otherwise SQLSTATE IL001, "lease lost".
create function imagen.held_job(job_id uuid, worker_id text) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  select * into _job from imagen.jobs j where j.id = held_job.job_id for update;
  if not found or _job.status <> 'running' or _job.leased_by is distinct from held_job.worker_id then
    raise exception 'lease lost: job % is not running under %', held_job.job_id, held_job.worker_id
      using errcode = 'IL001';
  end if;
  return _job;
end;
$$;

-- Every change to a try stamps updated_at, whoever makes it.
create function imagen.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create trigger jobs_touch_updated_at
  before update on imagen.jobs
  for each row execute function imagen.touch_updated_at();

-- The one place that names the wake-up channel the postgres transport listens on.
create function imagen.notify_jobs() returns void
language sql
set search_path = ''
as $$
  select pg_notify('imagen_jobs', '')
$$;

create or replace function imagen.notify_jobs_queued() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform imagen.notify_jobs();
  return null;
end;
$$;

-- fail_job and release_job again, with the lease check, updated_at and the channel taken from
-- above (claim_job, heartbeat_job, complete_job, the user guard and retry_job change again in
-- the migrations after this one, and are written there once).

-- A render failed: retry after backoff_seconds * 2^(attempts-1) (at most 10 minutes), or end
-- failed with the error once max_attempts is reached.
create or replace function imagen.fail_job(
  job_id uuid, worker_id text, error text, backoff_seconds double precision default 2
) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen.held_job(fail_job.job_id, fail_job.worker_id);
begin
  update imagen.jobs j
  set status = case when j.attempts >= j.max_attempts then 'failed' else 'queued' end,
      error = fail_job.error,
      run_after = now() + make_interval(
        secs => least(600, greatest(0, backoff_seconds) * 2 ^ greatest(j.attempts - 1, 0))),
      lease_expires_at = null,
      finished_at = case when j.attempts >= j.max_attempts then now() end
  where j.id = _job.id
  returning * into _job;
  return _job;
end;
$$;

-- Gives a try back untouched (the worker is shutting down): queued again, the attempt not counted.
create or replace function imagen.release_job(job_id uuid, worker_id text) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen.held_job(release_job.job_id, release_job.worker_id);
begin
  update imagen.jobs j
  set status = case when j.cancel_requested then 'cancelled' else 'queued' end,
      attempts = greatest(j.attempts - 1, 0),
      lease_expires_at = null,
      run_after = now(),
      finished_at = case when j.cancel_requested then now() end
  where j.id = _job.id
  returning * into _job;
  perform imagen.notify_jobs();
  return _job;
end;
$$;

revoke execute on function
  imagen.held_job(uuid, text),
  imagen.touch_updated_at(),
  imagen.notify_jobs()
from public, anon, authenticated;
grant execute on function imagen.held_job(uuid, text) to service_role;
-- Users wake workers too: their inserts (through the trigger) and retry_job.
grant execute on function imagen.notify_jobs() to authenticated, service_role;
