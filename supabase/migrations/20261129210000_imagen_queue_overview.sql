-- The operator's view of the fleet (issue 25): imagen.queue_overview() gives runnable tries by
-- model, the oldest wait, the users with the most unfinished tries and the workers holding
-- leases, for `imagen queue` and the workers' queue-depth metrics. The definition and its
-- reasons: supabase/schemas/90_operator_view.sql.

create or replace function imagen.queue_overview(top_users integer default 10, with_emails boolean default false)
 returns jsonb
 language plpgsql
 stable
 set search_path to ''
as $$
begin
  if top_users is null or top_users < 0 then
    raise exception 'top_users must be 0 or more' using errcode = '22023';
  end if;
  return (
    with unfinished as (
      select j.owner_id, j.model, j.status, j.queued_at, j.leased_by, j.started_at, j.lease_expires_at,
             (j.status = 'queued' and j.run_after <= now()) or (j.status = 'running' and j.lease_expires_at < now())
               as runnable
      from imagen.jobs j
      where j.status in ('queued', 'running')
    ), models as (
      select u.model, count(*) as runnable, extract(epoch from now() - min(u.queued_at))::double precision as wait
      from unfinished u where u.runnable
      group by u.model
    ), users as (
      select u.owner_id, count(*) as unfinished, count(*) filter (where u.status = 'queued') as queued,
             count(*) filter (where u.status = 'running') as running
      from unfinished u
      group by u.owner_id
      order by count(*) desc, u.owner_id
      limit top_users
    ), workers as (
      select u.leased_by, count(*) as tries, min(u.started_at) as since, max(u.lease_expires_at) as lease_expires_at
      from unfinished u where u.status = 'running'
      group by u.leased_by
    )
    select jsonb_build_object(
      'measured_at', now(),
      'runnable', (select count(*) from unfinished u where u.runnable),
      'waiting', (select count(*) from unfinished u where u.status = 'queued' and not u.runnable),
      'running', (select count(*) from unfinished u where u.status = 'running'),
      'oldest_wait_seconds', (select max(m.wait) from models m),
      'by_model', coalesce((
        select jsonb_agg(jsonb_build_object('model', m.model, 'runnable', m.runnable, 'oldest_wait_seconds', m.wait)
                         order by m.runnable desc, m.model)
        from models m), '[]'::jsonb),
      'users', coalesce((
        select jsonb_agg(jsonb_build_object(
                 'owner_id', s.owner_id,
                 'email', case when with_emails then (select a.email from auth.users a where a.id = s.owner_id) end,
                 'unfinished', s.unfinished, 'queued', s.queued, 'running', s.running)
               order by s.unfinished desc, s.owner_id)
        from users s), '[]'::jsonb),
      'workers', coalesce((
        select jsonb_agg(jsonb_build_object('worker_id', w.leased_by, 'tries', w.tries, 'since', w.since,
                                            'lease_expires_at', w.lease_expires_at)
               order by w.since, w.leased_by)
        from workers w), '[]'::jsonb)
    )
  );
end;
$$;
comment on function imagen.queue_overview(integer, boolean) is
  'The operator''s view: runnable tries by model, the oldest wait, the top users by unfinished tries, lease holders.';
grant execute on function imagen.queue_overview(integer, boolean) to service_role;
