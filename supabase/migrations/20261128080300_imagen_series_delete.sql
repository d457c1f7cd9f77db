-- Deleting a series deletes its tries and pictures with it (the foreign keys now cascade),
-- instead of turning them into solo tries and solo gallery pictures. Why cascade rather than
-- keep the rows cancelled: with its series gone a try or a picture means nothing to its owner,
-- and a kept row would need a series_id that points nowhere or shows up as a solo item.
--
-- Unfinished tries stop: a queued one is simply gone; a running one's worker hears 'cancelled'
-- from heartbeat_job at its next step, or NULL from complete_job (a try that no longer exists
-- was cancelled: another worker cannot hold it), so it stores nothing and removes what it stored.
--
-- Storage: the pictures of deleted image rows (a series deleted, an image deleted, an account
-- deleted) are listed in imagen.objects_to_delete by a trigger, in the same transaction; the
-- worker (service_role) removes those objects through the Storage API and then deletes the rows.
-- Chosen over refusing the delete while tries run (a user wants a delete to work) and over the
-- client removing files itself (it may never get to it).

alter table imagen.jobs
  drop constraint jobs_series_id_fkey,
  add constraint jobs_series_id_fkey foreign key (series_id)
    references imagen.series (id) on delete cascade;
alter table imagen.images
  drop constraint images_series_id_fkey,
  add constraint images_series_id_fkey foreign key (series_id)
    references imagen.series (id) on delete cascade;

create table imagen.objects_to_delete (
  id bigint generated always as identity primary key,
  owner_id uuid not null,
  bucket text not null,
  path text not null,
  created_at timestamptz not null default now()
);
comment on table imagen.objects_to_delete is
  'Storage objects whose image rows are gone; the worker removes them, then the row.';
create index objects_to_delete_owner_id_idx on imagen.objects_to_delete (owner_id);

alter table imagen.objects_to_delete enable row level security;
revoke all on imagen.objects_to_delete from public, anon, authenticated;
grant select on imagen.objects_to_delete to authenticated;
grant select, delete on imagen.objects_to_delete to service_role;

create policy "objects_to_delete: owners read their own" on imagen.objects_to_delete
  for select to authenticated using (owner_id = (select auth.uid()));

-- SECURITY DEFINER, owned by postgres: the row must be written whoever deletes the image (the
-- owner directly, or a cascade), and users must not get INSERT on this table, or they could
-- queue another user's objects for deletion. It copies only the deleted row's own bucket and path.
create function imagen.images_queue_object_delete() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into imagen.objects_to_delete (owner_id, bucket, path) values (old.owner_id, old.bucket, old.path);
  return null;
end;
$$;

create trigger images_queue_object_delete
  after delete on imagen.images
  for each row execute function imagen.images_queue_object_delete();

-- Extends the lease and records progress. Answers 'ok', 'cancelled' (the try is now cancelled,
-- or gone with its series: stop and store nothing) or 'lost' (another worker owns it now: stop
-- and store nothing).
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
      when not exists (select from imagen.jobs j where j.id = heartbeat_job.job_id and j.status <> 'cancelled')
        then 'cancelled'
      else 'lost'
    end;
end;
$$;

-- Records the stored picture and finishes the try, in one transaction. Calling it again after
-- success (say, the reply was lost) returns the same image; only the lease holder may call it.
-- Returns NULL if the user cancelled the try meanwhile, or deleted it with its series.
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

revoke execute on function imagen.images_queue_object_delete() from public, anon, authenticated;
