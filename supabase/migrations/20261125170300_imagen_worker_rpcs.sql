-- The worker's side of the queue, executable by service_role only. Every state change a
-- worker makes goes through one of these, checked against the lease it holds.
-- A worker whose lease is gone gets SQLSTATE IL001 ("lease lost") and must drop the try.

-- Claims the oldest runnable try: queued and due, or running with an expired lease.
create function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
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
      lease_expires_at = null,
      updated_at = now()
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
      started_at = now(),
      updated_at = now()
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
create function imagen.heartbeat_job(
  job_id uuid, worker_id text, progress integer default null, lease_seconds double precision default 60
) returns text
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  select * into _job from imagen.jobs j where j.id = heartbeat_job.job_id for update;
  if not found or _job.status <> 'running' or _job.leased_by is distinct from heartbeat_job.worker_id then
    return case when found and _job.status = 'cancelled' then 'cancelled' else 'lost' end;
  end if;
  if _job.cancel_requested then
    update imagen.jobs j
    set status = 'cancelled', lease_expires_at = null, finished_at = now(), updated_at = now()
    where j.id = _job.id;
    return 'cancelled';
  end if;
  update imagen.jobs j
  set lease_expires_at = now() + make_interval(secs => lease_seconds),
      progress = greatest(j.progress, coalesce(heartbeat_job.progress, j.progress)),
      updated_at = now()
  where j.id = _job.id;
  return 'ok';
end;
$$;

-- Records the stored picture and finishes the try, in one transaction. Calling it again after
-- success (say, the reply was lost) returns the same image; only the lease holder may call it.
-- Returns NULL if the user cancelled the try meanwhile.
create function imagen.complete_job(
  job_id uuid, worker_id text, bucket text, path text, bytes integer, mime text default 'image/png'
) returns imagen.images
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
  _image imagen.images;
begin
  select * into _job from imagen.jobs j where j.id = complete_job.job_id for update;
  if not found then
    raise exception 'job_id % does not exist', complete_job.job_id using errcode = '22023';
  end if;
  if _job.leased_by is distinct from complete_job.worker_id then
    raise exception 'lease lost: job % is held by %, not %', _job.id, _job.leased_by, complete_job.worker_id
      using errcode = 'IL001';
  end if;
  if _job.status = 'done' then
    select * into _image from imagen.images i where i.job_id = _job.id;
    return _image;
  end if;
  if _job.status <> 'running' then
    raise exception 'lease lost: job % is %', _job.id, _job.status using errcode = 'IL001';
  end if;
  if _job.cancel_requested then
    -- Cancelled while it rendered: no image. NULL (not an error, which would undo this update)
    -- tells the worker to drop what it stored.
    update imagen.jobs j
    set status = 'cancelled', lease_expires_at = null, finished_at = now(), updated_at = now()
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
      lease_expires_at = null, finished_at = now(), updated_at = now()
  where j.id = _job.id;
  return _image;
end;
$$;

-- A render failed: retry after backoff_seconds * 2^(attempts-1) (at most 10 minutes), or end
-- failed with the error once max_attempts is reached.
create function imagen.fail_job(
  job_id uuid, worker_id text, error text, backoff_seconds double precision default 2
) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  select * into _job from imagen.jobs j where j.id = fail_job.job_id for update;
  if not found or _job.status <> 'running' or _job.leased_by is distinct from fail_job.worker_id then
    raise exception 'lease lost: job % is not running under %', fail_job.job_id, fail_job.worker_id
      using errcode = 'IL001';
  end if;
  update imagen.jobs j
  set status = case when j.attempts >= j.max_attempts then 'failed' else 'queued' end,
      error = fail_job.error,
      run_after = now() + make_interval(
        secs => least(600, greatest(0, backoff_seconds) * 2 ^ greatest(j.attempts - 1, 0))),
      lease_expires_at = null,
      finished_at = case when j.attempts >= j.max_attempts then now() end,
      updated_at = now()
  where j.id = _job.id
  returning * into _job;
  return _job;
end;
$$;

-- Gives a try back untouched (the worker is shutting down): queued again, the attempt not counted.
create function imagen.release_job(job_id uuid, worker_id text) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs;
begin
  update imagen.jobs j
  set status = case when j.cancel_requested then 'cancelled' else 'queued' end,
      attempts = greatest(j.attempts - 1, 0),
      lease_expires_at = null,
      run_after = now(),
      finished_at = case when j.cancel_requested then now() end,
      updated_at = now()
  where j.id = release_job.job_id and j.status = 'running' and j.leased_by = release_job.worker_id
  returning * into _job;
  if not found then
    raise exception 'lease lost: job % is not running under %', release_job.job_id, release_job.worker_id
      using errcode = 'IL001';
  end if;
  perform pg_notify('imagen_jobs', '');
  return _job;
end;
$$;

revoke execute on function
  imagen.claim_job(text, double precision),
  imagen.heartbeat_job(uuid, text, integer, double precision),
  imagen.complete_job(uuid, text, text, text, integer, text),
  imagen.fail_job(uuid, text, text, double precision),
  imagen.release_job(uuid, text)
from public, anon, authenticated;

grant execute on function
  imagen.claim_job(text, double precision),
  imagen.heartbeat_job(uuid, text, integer, double precision),
  imagen.complete_job(uuid, text, text, text, integer, text),
  imagen.fail_job(uuid, text, text, double precision),
  imagen.release_job(uuid, text)
to service_role;
