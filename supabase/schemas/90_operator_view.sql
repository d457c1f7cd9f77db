-- The operator's view of the fleet, in one statement: what is runnable (by model, and how long the
-- oldest has waited), who has the most unfinished tries, and which workers hold leases since when.
-- `imagen queue` prints it; each worker samples its counts for its Prometheus metrics.
-- Runnable, waiting and rendering are imagen_private.try_state's words, the claim's own rule.
-- Waits count from queued_at, when the user last put the try in the queue.
-- Users are named by id; their emails only when asked (with_emails), for an operator at a terminal.
-- SECURITY INVOKER and granted to service_role only (postgres owns it): both read every row
-- (BYPASSRLS); users and anon may not call it, it counts everybody's tries.
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
      select j.owner_id, j.settings ->> 'model' as model, j.status, j.queued_at, j.leased_by, j.started_at,
             j.lease_expires_at, imagen_private.try_state(j) as state
      from imagen.jobs j
      where j.status = any(imagen_private.unfinished_statuses())
    ), models as (
      select u.model, count(*) as runnable, extract(epoch from now() - min(u.queued_at))::double precision as wait
      from unfinished u where u.state = 'runnable'
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
      'runnable', (select count(*) from unfinished u where u.state = 'runnable'),
      'waiting', (select count(*) from unfinished u where u.state = 'waiting'),
      'running', (select count(*) from unfinished u where u.state = 'rendering'),
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
