-- Heartbeats write less. Each used to rewrite the job row: a new row version, WAL, and a
-- Realtime change event decoded and RLS-checked per subscriber. Per-step progress now travels as
-- events (Broadcast on the supabase transport, NOTIFY on the postgres one), so a heartbeat only
-- reads the row while more than half of the lease is left, and still answers 'ok', 'cancelled'
-- or 'lost' every time (a cancel is acted on at once). Once less than half is left (or the lease
-- ran out and nobody took the try), it renews the lease and records the progress with it: a try
-- costs a claim, a completion and one renewal per half lease in row writes.
--
-- The worker's heartbeat interval (IMAGEN_HEARTBEAT_INTERVAL, 1 s) must stay under half the lease.

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
