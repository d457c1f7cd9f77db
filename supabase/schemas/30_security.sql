-- Who may touch what. RLS scopes every row to its owner; column grants decide which columns a
-- user may write (or read) at all; triggers (60_triggers_events.sql) guard the job state machine
-- and the per-user cap. Column grants are not carried by `supabase db diff`: write them by hand
-- in the migration (supabase/schemas/README.md).


alter table imagen.series enable row level security;
alter table imagen.jobs enable row level security;
alter table imagen.images enable row level security;
alter table imagen.objects_to_delete enable row level security;
alter table imagen.limits enable row level security;
alter table imagen.owner_turns enable row level security;

revoke all on imagen.series, imagen.jobs, imagen.images, imagen.objects_to_delete, imagen.limits,
  imagen.owner_turns from public, anon, authenticated;
grant select, insert, update, delete on imagen.series, imagen.jobs, imagen.images, imagen.limits,
  imagen.owner_turns to service_role;
grant select, delete on imagen.objects_to_delete to service_role;

-- Users create series and tries (normally through create_series), pick a winner, add tries,
-- and delete series; they never write worker state.
grant select, delete on imagen.series to authenticated;
grant insert (count, parent_image_id, kind, settings) on imagen.series to authenticated;
grant update (selected_image_id, count, favourite) on imagen.series to authenticated;

-- jobs.leased_by names the worker's host and pid, claim_id is the worker's: not the users'
-- business. Realtime drops columns a subscriber may not select, so a user's `select *` on jobs
-- fails: name the columns. The user RPCs that return a try read it through own_job.
grant select (
  id, owner_id, series_id, series_idx, status, cancel_requested, attempts, max_attempts, run_after,
  lease_expires_at, progress, error, image_id, created_at, started_at, finished_at, updated_at,
  queued_at, kind, settings
) on imagen.jobs to authenticated;
-- A series' try takes its settings from its series (jobs_take_their_settings); a solo try's are
-- checked like any.
grant insert (series_id, series_idx, kind, settings) on imagen.jobs to authenticated;
-- status only for the transitions jobs_guard_user_update allows (cancel, retry).
grant update (status, cancel_requested) on imagen.jobs to authenticated;

grant select, delete on imagen.images to authenticated;
grant select on imagen.objects_to_delete to authenticated;
-- The cap trigger runs as the user (SECURITY INVOKER), and a client may show the limit.
grant select on imagen.limits to authenticated;

-- series
create policy "series: owners read their own" on imagen.series
  for select to authenticated using (owner_id = (select auth.uid()));
-- A variation series varies one of its owner's own pictures (the foreign key alone ignores RLS).
create policy "series: owners create their own" on imagen.series
  for insert to authenticated with check (
    owner_id = (select auth.uid())
    and (parent_image_id is null
         or exists (select from imagen.images i where i.id = parent_image_id and i.owner_id = (select auth.uid())))
  );
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

create policy "objects_to_delete: owners read their own" on imagen.objects_to_delete
  for select to authenticated using (owner_id = (select auth.uid()));

create policy "limits: users read the default and their own" on imagen.limits
  for select to authenticated using (owner_id is null or owner_id = (select auth.uid()));

-- Nobody but the queue reads or writes it: users see no row; the service role bypasses RLS.
create policy "owner_turns: users see nothing" on imagen.owner_turns
  for select to authenticated using (false);

-- The worker (service_role) and the project owner (postgres) drive every transition and are not
-- bound by users' caps. Named roles, not is_superuser: on a hosted project postgres is no superuser.
create or replace function imagen_private.caller_is_service()
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select current_user in ('postgres', 'service_role')
$$;
grant execute on function imagen_private.caller_is_service() to authenticated, service_role;

-- The caller's own series / try (RLS hides everyone else's), or 22023 naming the id.
create or replace function imagen_private.own_series(series_id uuid)
 returns imagen.series
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _series imagen.series;
begin
  select * into _series from imagen.series s where s.id = own_series.series_id;
  if not found then
    raise exception 'series_id % is not one of your series', own_series.series_id using errcode = '22023';
  end if;
  return _series;
end;
$$;
grant execute on function imagen_private.own_series(uuid) to authenticated, service_role;

-- The caller's own try (RLS hides everyone else's), or 22023 naming the id: every column of
-- imagen.jobs in order, the worker's (leased_by, claim_id) as NULL.
create or replace function imagen_private.own_job(job_id uuid)
 returns imagen.jobs
 language plpgsql
 stable
 set search_path to ''
as $$
declare
  _job imagen.jobs;
begin
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.cancel_requested, j.attempts,
         j.max_attempts, j.run_after, null, j.lease_expires_at, j.progress, j.error, j.image_id,
         j.created_at, j.started_at, j.finished_at, j.updated_at, j.queued_at, null::uuid, j.kind,
         j.settings
  into _job
  from imagen.jobs j where j.id = own_job.job_id;
  if not found then
    raise exception 'job_id % is not one of your tries', own_job.job_id using errcode = '22023';
  end if;
  return _job;
end;
$$;
grant execute on function imagen_private.own_job(uuid) to authenticated, service_role;

-- Whether owner_id is the caller and signed in anonymously (Auth's anonymous sign-ins): the
-- token's is_anonymous claim, as Supabase's own policies read it. Anonymous users have limits of
-- their own (imagen.limits' anonymous default row), zero unless an operator raises them.
create or replace function imagen_private.is_anonymous(owner_id uuid)
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select is_anonymous.owner_id = (select auth.uid())
     and coalesce(((select auth.jwt()) ->> 'is_anonymous')::boolean, false)
$$;
grant execute on function imagen_private.is_anonymous(uuid) to authenticated, service_role;

-- The cap on a user's unfinished tries: owner_id's own row in imagen.limits if set, else the
-- default for their kind of user; none for a signed-up user without either, 0 for an anonymous one.
create or replace function imagen_private.max_unfinished_tries(owner_id uuid)
 returns integer
 language sql
 stable
 set search_path to ''
as $$
  select coalesce(
    (select l.max_unfinished_tries from imagen.limits l
     where l.owner_id = max_unfinished_tries.owner_id
        or (l.owner_id is null and l.anonymous = imagen_private.is_anonymous(max_unfinished_tries.owner_id))
     order by l.owner_id nulls last
     limit 1),
    case when imagen_private.is_anonymous(max_unfinished_tries.owner_id) then 0 end)
$$;
grant execute on function imagen_private.max_unfinished_tries(uuid) to authenticated, service_role;

-- The cap on a user's webhook endpoints, read as the cap on tries is (a NULL in a user's own row
-- takes the default's).
create or replace function imagen_private.max_webhook_endpoints(owner_id uuid)
 returns integer
 language sql
 stable
 set search_path to ''
as $$
  select coalesce(
    (select l.max_webhook_endpoints from imagen.limits l
     where (l.owner_id = max_webhook_endpoints.owner_id
            or (l.owner_id is null and l.anonymous = imagen_private.is_anonymous(max_webhook_endpoints.owner_id)))
       and l.max_webhook_endpoints is not null
     order by l.owner_id nulls last
     limit 1),
    case when imagen_private.is_anonymous(max_webhook_endpoints.owner_id) then 0 end)
$$;
grant execute on function imagen_private.max_webhook_endpoints(uuid) to authenticated, service_role;


-- The caller's own limit stays API: a client may show it.
create or replace function imagen.max_unfinished_tries()
 returns integer
 language sql
 stable
 set search_path to ''
as $$
  select imagen_private.max_unfinished_tries((select auth.uid()))
$$;
grant execute on function imagen.max_unfinished_tries() to authenticated, service_role;

