-- Who may touch what. RLS scopes every row to its owner; column grants decide which columns
-- a user may write at all; triggers guard the job state machine and the per-user cap.

alter table imagen.series enable row level security;
alter table imagen.jobs enable row level security;
alter table imagen.images enable row level security;

revoke all on imagen.series, imagen.jobs, imagen.images from public, anon, authenticated;
grant select, insert, update, delete on imagen.series, imagen.jobs, imagen.images to service_role;

-- Users create series and tries (normally through create_series), pick a winner, add tries,
-- and delete series; they never write worker state.
grant select, delete on imagen.series to authenticated;
grant insert (prompt, model, width, height, steps, style, base_seed, count) on imagen.series to authenticated;
grant update (selected_image_id, count) on imagen.series to authenticated;

grant select on imagen.jobs to authenticated;
grant insert (series_id, series_idx, prompt, model, width, height, steps, style, seed) on imagen.jobs to authenticated;
-- status only for the transitions jobs_guard_user_update allows (cancel, retry).
grant update (status, cancel_requested) on imagen.jobs to authenticated;

grant select, delete on imagen.images to authenticated;

-- series
create policy "series: owners read their own" on imagen.series
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "series: owners create their own" on imagen.series
  for insert to authenticated with check (owner_id = (select auth.uid()));
create policy "series: owners update their own" on imagen.series
  for update to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));
create policy "series: owners delete their own" on imagen.series
  for delete to authenticated using (owner_id = (select auth.uid()));

-- jobs
create policy "jobs: owners read their own" on imagen.jobs
  for select to authenticated using (owner_id = (select auth.uid()));
-- A try joins only its owner's series, and only within the series' count.
create policy "jobs: owners create their own" on imagen.jobs
  for insert to authenticated with check (
    owner_id = (select auth.uid())
    and (
      series_id is null
      or exists (
        select from imagen.series s
        where s.id = series_id and s.owner_id = (select auth.uid()) and series_idx <= s.count
      )
    )
  );
create policy "jobs: owners update their own" on imagen.jobs
  for update to authenticated
  using (owner_id = (select auth.uid())) with check (owner_id = (select auth.uid()));

-- images: written by the worker only
create policy "images: owners read their own" on imagen.images
  for select to authenticated using (owner_id = (select auth.uid()));
create policy "images: owners delete their own" on imagen.images
  for delete to authenticated using (owner_id = (select auth.uid()));

-- Users may only cancel a try or send a failed/cancelled one back to the queue; the worker
-- (service role) and the database owner drive every other transition.
create function imagen.jobs_guard_user_update() returns trigger
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
  new.updated_at := now();
  return new;
end;
$$;

create trigger jobs_guard_user_update
  before update on imagen.jobs
  for each row execute function imagen.jobs_guard_user_update();

-- A series only grows (add tries); lowering count would orphan tries.
create function imagen.series_guard_count() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.count < old.count then
    raise exception 'count cannot shrink (from % to %)', old.count, new.count
      using errcode = '22023';
  end if;
  return new;
end;
$$;

create trigger series_guard_count
  before update of count on imagen.series
  for each row execute function imagen.series_guard_count();

-- The per-user cap on unfinished tries. Default 50; a project may change it with
-- `alter database postgres set imagen.max_unfinished_tries = 100`.
create function imagen.max_unfinished_tries() returns integer
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('imagen.max_unfinished_tries', true), '')::integer, 50)
$$;

-- Checked once per statement over the rows it touched, so create_series pays one query.
create function imagen.jobs_enforce_unfinished_cap() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _owner uuid;
  _unfinished integer;
  _limit integer := imagen.max_unfinished_tries();
begin
  -- The cap protects the queue from users; the worker requeueing a try is not a new request.
  if current_user = 'service_role' or current_setting('is_superuser') = 'on' then
    return null;
  end if;
  select j.owner_id, count(*) into _owner, _unfinished
  from imagen.jobs j
  where j.owner_id in (select distinct c.owner_id from changed c where c.status = 'queued')
    and j.status in ('queued', 'running')
  group by j.owner_id
  having count(*) > _limit
  limit 1;
  if _owner is not null then
    raise exception 'too many unfinished tries: this would make % queued or running, the limit is %',
      _unfinished, _limit
      using errcode = 'P0001',
            hint = 'wait for some tries to finish or cancel them';
  end if;
  return null;
end;
$$;

create trigger jobs_enforce_unfinished_cap_on_insert
  after insert on imagen.jobs
  referencing new table as changed
  for each statement execute function imagen.jobs_enforce_unfinished_cap();
create trigger jobs_enforce_unfinished_cap_on_update
  after update on imagen.jobs
  referencing new table as changed
  for each statement execute function imagen.jobs_enforce_unfinished_cap();

-- Trigger functions and helpers are not API: nobody calls them directly.
revoke execute on function imagen.jobs_guard_user_update(), imagen.series_guard_count(),
  imagen.jobs_enforce_unfinished_cap() from public, anon, authenticated;
revoke execute on function imagen.max_unfinished_tries() from public, anon;
grant execute on function imagen.max_unfinished_tries() to authenticated, service_role;
