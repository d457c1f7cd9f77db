-- What the worker calls: service_role only. Claims take turns between owners (the owner served
-- least recently first), then queue time, then index order within a series.

-- The claim, in one write per try. Expired leases first (back to the queue, or failed/cancelled,
-- as imagen_private.try_state says); then, in the queue order (imagen_private.turn_order and
-- line_order), the first owner with a runnable try this worker serves (its models and kinds; NULL:
-- any), and that owner's first such try. Only owners with queued tries are walked
-- (owner_turns_turn_idx), so owners long idle cost nothing. The owner's turn moves by the
-- jobs_note_owner_turn trigger; claim_id is recorded in the update, so a try costs one row
-- version and one Realtime event. `status = 'queued'` and the lease's expiry are the indexes'
-- access paths; try_state decides.
create or replace function imagen.claim_next(worker_id text, lease_seconds double precision, claim_id uuid, models text[] default null::text[], kinds text[] default null::text[])
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

  -- Expired leases: the holder crashed or hung. A runnable one goes back to the front of the
  -- queue; an ending one ends, cancelled if that was asked, failed otherwise.
  update imagen.jobs j
  set status = case
        when imagen_private.try_state(j) = 'runnable' then 'queued'
        when j.cancel_requested then 'cancelled'
        else 'failed'
      end,
      error = case
        when imagen_private.try_state(j) = 'ending' and not j.cancel_requested
          then format('the worker rendering it stopped answering (%s of %s attempts)', j.attempts, j.max_attempts)
        else j.error
      end,
      finished_at = case when imagen_private.try_state(j) = 'ending' then now() end,
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
      where q.owner_id = t.owner_id and q.status = 'queued'
        and imagen_private.try_state(q) = 'runnable'
        and imagen_private.serves(q, claim_next.models, claim_next.kinds)
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
grant execute on function imagen.claim_next(text,double precision,uuid,text[],text[]) to service_role;

-- The next try in fair turns (claim_next), for callers that name no claim.
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision default 60)
 returns setof imagen.jobs
 language sql
 set search_path to ''
as $$
  select * from imagen.claim_next(worker_id, lease_seconds, null);
$$;
grant execute on function imagen.claim_job(text,double precision) to service_role;

-- A claim whose answer never arrived (a gateway timeout after the commit) must not strand its
-- try: the worker names each claim and sends the same id when it retries; a retry hands back what
-- the first attempt took. claim_id has no default, so PostgREST picks this one only when named.
-- models and kinds: what this worker renders (NULL: anything).
create or replace function imagen.claim_job(worker_id text, lease_seconds double precision, claim_id uuid, models text[] default null::text[], kinds text[] default null::text[])
 returns setof imagen.jobs
 language plpgsql
 set search_path to ''
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
  return query select * from imagen.claim_next(claim_job.worker_id, claim_job.lease_seconds, claim_job.claim_id,
                                               claim_job.models, claim_job.kinds);
end;
$$;
grant execute on function imagen.claim_job(text,double precision,uuid,text[],text[]) to service_role;

-- The try job_id, locked for the rest of the transaction, if worker_id holds its lease (it is
-- running under that worker); otherwise SQLSTATE IL001, "lease lost".
create or replace function imagen.held_job(job_id uuid, worker_id text)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
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
grant execute on function imagen.held_job(uuid,text) to service_role;

-- Extends the lease and records progress. Answers 'ok', 'cancelled' (the try is now cancelled:
-- stop and store nothing) or 'lost' (another worker owns it now: stop and store nothing).
create or replace function imagen.heartbeat_job(job_id uuid, worker_id text, progress integer default null::integer, lease_seconds double precision default 60)
 returns text
 language plpgsql
 set search_path to ''
as $$
declare
  _job imagen.jobs;
begin
  -- A plain read first: no lock, no write while the lease has more than half to run.
  select * into _job from imagen.jobs j where j.id = heartbeat_job.job_id;
  if found and _job.status = 'running' and _job.leased_by = heartbeat_job.worker_id
     and not _job.cancel_requested
     and _job.lease_expires_at - now() >= make_interval(secs => heartbeat_job.lease_seconds / 2) then
    return 'ok';
  end if;

  _job := imagen.held_job(heartbeat_job.job_id, heartbeat_job.worker_id);
  if _job.cancel_requested then
    update imagen.jobs j set status = 'cancelled', lease_expires_at = null, finished_at = now()
    where j.id = _job.id;
    return 'cancelled';
  end if;
  update imagen.jobs j
  set lease_expires_at = now() + make_interval(secs => heartbeat_job.lease_seconds),
      progress = greatest(j.progress, coalesce(heartbeat_job.progress, j.progress))
  where j.id = _job.id;
  return 'ok';
exception
  -- Not held any more: an answer rather than an error, so the worker simply stops.
  when sqlstate 'IL001' then
    return case
      when not exists (select from imagen.jobs j where j.id = heartbeat_job.job_id and j.status <> 'cancelled')
        then 'cancelled'
      else 'lost'
    end;
end;
$$;
grant execute on function imagen.heartbeat_job(uuid,text,integer,double precision) to service_role;

-- Records the stored picture and finishes the try, in one transaction. Calling it again after
-- success (say, the reply was lost) returns the same image; only the lease holder may call it.
-- Returns NULL if the user cancelled the try meanwhile.
create or replace function imagen.complete_job(job_id uuid, worker_id text, bucket text, path text, bytes integer, mime text default 'image/png'::text)
 returns imagen.images
 language plpgsql
 set search_path to ''
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

  insert into imagen.images (job_id, owner_id, series_id, bucket, path, bytes, mime)
  values (_job.id, _job.owner_id, _job.series_id, complete_job.bucket, complete_job.path,
          complete_job.bytes, complete_job.mime)
  returning * into _image;

  update imagen.jobs j
  set status = 'done', image_id = _image.id, progress = (j.settings ->> 'steps')::integer, error = null,
      lease_expires_at = null, finished_at = now()
  where j.id = _job.id;
  return _image;
exception
  -- Already done by this very worker: the same image again. Gone with its series: cancelled.
  when sqlstate 'IL001' then
    if not exists (select from imagen.jobs j where j.id = complete_job.job_id) then
      return null;
    end if;
    select i.* into _image from imagen.jobs j join imagen.images i on i.id = j.image_id
    where j.id = complete_job.job_id and j.status = 'done' and j.leased_by = complete_job.worker_id;
    if not found then
      raise;
    end if;
    return _image;
end;
$$;
grant execute on function imagen.complete_job(uuid,text,text,text,integer,text) to service_role;

-- A render failed: retry after backoff_seconds * 2^(attempts-1) (at most 10 minutes), or end
-- failed with the error once max_attempts is reached.
create or replace function imagen.fail_job(job_id uuid, worker_id text, error text, backoff_seconds double precision default 2)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
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
grant execute on function imagen.fail_job(uuid,text,text,double precision) to service_role;

-- Gives a try back untouched (the worker is shutting down): queued again, the attempt not counted.
create or replace function imagen.release_job(job_id uuid, worker_id text)
 returns imagen.jobs
 language plpgsql
 set search_path to ''
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
  perform imagen_private.notify_jobs();
  return _job;
end;
$$;
grant execute on function imagen.release_job(uuid,text) to service_role;

-- Storage objects whose image rows are gone, oldest first; the worker removes them, then forgets them.
create or replace function imagen.pending_object_deletions(max_rows integer default 100)
 returns setof imagen.objects_to_delete
 language sql
 set search_path to ''
as $$
  select * from imagen.objects_to_delete order by id limit greatest(max_rows, 0);
$$;
grant execute on function imagen.pending_object_deletions(integer) to service_role;

create or replace function imagen.forget_object_deletions(ids bigint[])
 returns integer
 language sql
 set search_path to ''
as $$
  with gone as (delete from imagen.objects_to_delete where id = any(ids) returning 1)
  select count(*)::integer from gone;
$$;
grant execute on function imagen.forget_object_deletions(bigint[]) to service_role;

