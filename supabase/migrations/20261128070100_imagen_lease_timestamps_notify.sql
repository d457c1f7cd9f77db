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

-- The worker RPCs again, with the lease check, updated_at and the channel taken from above.
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
returns setof imagen.jobs
language plpgsql
set search_path = ''
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
          then format('lease expired %s times (worker %s was last)', j.attempts, j.leased_by)
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
      leased_by = claim_job.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = 0,
      started_at = now()
  where j.id = (
    select q.id from imagen.jobs q
    where q.status = 'queued' and q.run_after <= now()
    order by q.created_at, q.series_idx
    limit 1
    for update skip locked
  )
  returning j.*;
end;
$$;

-- Extends the lease and records progress. Answers 'ok', 'cancelled' (the try is now cancelled:
-- stop and store nothing) or 'lost' (another worker owns it now: stop and store nothing).
create or replace function imagen.heartbeat_job(
  job_id uuid, worker_id text, progress integer default null, lease_seconds double precision default 60
) returns text
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  _job := imagen.held_job(heartbeat_job.job_id, heartbeat_job.worker_id);
  if _job.cancel_requested then
    update imagen.jobs j set status = 'cancelled', lease_expires_at = null, finished_at = now()
    where j.id = _job.id;
    return 'cancelled';
  end if;
  update imagen.jobs j
  set lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = greatest(j.progress, coalesce(heartbeat_job.progress, j.progress))
  where j.id = _job.id;
  return 'ok';
exception
  -- Not held any more: an answer rather than an error, so the worker simply stops.
  when sqlstate 'IL001' then
    return case
      when exists (select from imagen.jobs j where j.id = heartbeat_job.job_id and j.status = 'cancelled')
        then 'cancelled'
      else 'lost'
    end;
end;
$$;

-- Records the stored picture and finishes the try, in one transaction. Calling it again after
-- success (say, the reply was lost) returns the same image; only the lease holder may call it.
-- Returns NULL if the user cancelled the try meanwhile.
create or replace function imagen.complete_job(
  job_id uuid, worker_id text, bucket text, path text, bytes integer, mime text default 'image/png'
) returns imagen.images
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
  _image imagen.images;
begin
  _job := imagen.held_job(complete_job.job_id, complete_job.worker_id);
  if _job.cancel_requested then
    -- Cancelled while it rendered: no image. NULL (not an error, which would undo this update)
    -- tells the worker to drop what it stored.
    update imagen.jobs j set status = 'cancelled', lease_expires_at = null, finished_at = now()
    where j.id = _job.id;
    return null;
  end if;

  insert into imagen.images (job_id, owner_id, series_id, prompt, model, width, height, steps,
                             style, seed, bucket, path, bytes, mime)
  values (_job.id, _job.owner_id, _job.series_id, _job.prompt, _job.model, _job.width, _job.height,
          _job.steps, _job.style, _job.seed, complete_job.bucket, complete_job.path,
          complete_job.bytes, complete_job.mime)
  returning * into _image;

  update imagen.jobs j
  set status = 'done', image_id = _image.id, progress = j.steps, error = null,
      lease_expires_at = null, finished_at = now()
  where j.id = _job.id;
  return _image;
exception
  -- Already done by this very worker: the same image again.
  when sqlstate 'IL001' then
    select i.* into _image from imagen.jobs j join imagen.images i on i.id = j.image_id
    where j.id = complete_job.job_id and j.status = 'done' and j.leased_by = complete_job.worker_id;
    if not found then
      raise;
    end if;
    return _image;
end;
$$;

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

-- The user side: the guard no longer stamps updated_at itself, retry_job wakes workers the one way.
create or replace function imagen.jobs_guard_user_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user = 'service_role' or current_setting('is_superuser') = 'on' then
    return new;
  end if;
  if new.cancel_requested is distinct from old.cancel_requested then
    if not new.cancel_requested or old.status <> 'running' then
      raise exception 'jobs: cancel_requested can only be set on a running try'
        using errcode = '42501';
    end if;
  end if;
  if new.status is distinct from old.status then
    if old.status = 'queued' and new.status = 'cancelled' then
      new.finished_at := now();
    elsif old.status in ('failed', 'cancelled') and new.status = 'queued' then
      new.attempts := 0;
      new.error := null;
      new.run_after := now();
      new.cancel_requested := false;
      new.leased_by := null;
      new.lease_expires_at := null;
      new.progress := 0;
      new.started_at := null;
      new.finished_at := null;
    else
      raise exception 'jobs: a user cannot change status from % to %', old.status, new.status
        using errcode = '42501';
    end if;
  end if;
  return new;
end;
$$;

create or replace function imagen.retry_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  _job := imagen.own_job(retry_job.job_id);
  if _job.status not in ('failed', 'cancelled') then
    raise exception 'job_id % is %, only a failed or cancelled try can be retried',
      retry_job.job_id, _job.status
      using errcode = '22023';
  end if;
  update imagen.jobs j set status = 'queued' where j.id = _job.id returning * into _job;
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
