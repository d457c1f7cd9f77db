-- Heartbeats write less. The worker sends one several times a second (each step of a render, and
-- its heartbeat timer), and each used to rewrite the job row: a new row version, WAL, a Realtime
-- change event to every subscriber. Per-step progress is to travel over Broadcast instead, so
-- now a heartbeat only reads the row while more than half of the lease is left, and still
-- answers 'ok', 'cancelled' or 'lost' every time. Once less than half is left (or the lease has
-- run out and nobody took the try), it renews the lease and records the progress with it. A
-- cancel request is acted on at once, as before.
--
-- The worker's heartbeat interval (0.25 s by default) must stay under half the lease (60 s).

create or replace function imagen.heartbeat_job(
  job_id uuid, worker_id text, progress integer default null, lease_seconds double precision default 60
) returns text
language plpgsql
set search_path = ''
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
