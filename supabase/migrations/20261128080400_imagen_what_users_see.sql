-- What users can see of other people and of the worker.
--
-- Realtime: RLS does not apply to DELETE events, which go, primary key only, to every
-- subscriber of a table. The publication therefore carries no deletes; note that this is the
-- project's one supabase_realtime publication, so it holds for every table published in it (the
-- same leak would apply to any of them). A deleted series or picture is noticed by its owner's
-- client, which did the delete. Published: jobs (the worker's INSERT wake-ups, users' state
-- changes, a finished try's image_id) and series (winner and count, seen on other devices);
-- images are not needed, a finished try arrives as its job's update.
alter publication supabase_realtime set (publish = 'insert, update');
alter publication supabase_realtime drop table imagen.images;

-- jobs.leased_by names the worker's host and pid, claim_id is the worker's: not the users' business. Column grants leave
-- it out (Realtime drops columns a subscriber may not select), so a user's `select *` on jobs
-- fails: name the columns. The user RPCs that return a try read it through own_job.
revoke select on imagen.jobs from authenticated;
grant select (
  id, owner_id, series_id, series_idx, prompt, model, width, height, steps, style, seed, status,
  cancel_requested, attempts, max_attempts, run_after, lease_expires_at, progress, error, image_id,
  created_at, started_at, finished_at, updated_at, queued_at
) on imagen.jobs to authenticated;

-- The caller's own try (RLS hides everyone else's), or 22023 naming the id: every column of
-- imagen.jobs in order, the worker's (leased_by, claim_id) as NULL.
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
         j.finished_at, j.updated_at, j.queued_at, null::uuid
  into _job
  from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;

-- The RPCs that answered with `returning *` (all columns) now answer with own_job.
create or replace function imagen.submit_job(
  prompt text,
  model text default 'black-forest-labs/FLUX.1-schnell',
  width integer default 1024,
  height integer default 1024,
  steps integer default 4,
  style text default null,
  seed bigint default null
) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _id uuid;
begin
  perform imagen.assert_valid_settings(prompt, width, height, steps, model, style, seed);
  insert into imagen.jobs (prompt, model, width, height, steps, style, seed)
  values (prompt, model, width, height, steps, style, coalesce(seed, imagen.try_seed(null, 1)))
  returning id into _id;
  return imagen.own_job(_id);
end;
$$;

create or replace function imagen.cancel_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen.own_job(cancel_job.job_id);
begin
  if _job.status = 'queued' then
    update imagen.jobs j set status = 'cancelled' where j.id = _job.id;
  elsif _job.status = 'running' then
    update imagen.jobs j set cancel_requested = true where j.id = _job.id;
  end if;
  return imagen.own_job(_job.id);
end;
$$;

create or replace function imagen.retry_job(job_id uuid) returns imagen.jobs
language plpgsql
set search_path = ''
as $$
declare
  _job imagen.jobs := imagen.own_job(retry_job.job_id);
begin
  if _job.status not in ('failed', 'cancelled') then
    raise exception 'job_id % is %, only a failed or cancelled try can be retried',
      retry_job.job_id, _job.status
      using errcode = '22023';
  end if;
  update imagen.jobs j set status = 'queued' where j.id = _job.id;
  perform imagen.notify_jobs();
  return imagen.own_job(_job.id);
end;
$$;
