-- Queue depth for autoscalers (KEDA's postgresql scaler polls a query that returns one number):
-- imagen.queue_depth(), callable only by imagen_autoscaler, a role with no other right. The role
-- is made here without LOGIN and without a password (none belongs in a migration);
-- `imagen db autoscaler-login` gives it both (docs/deploy.md).
do $$
begin
  if not exists (select from pg_roles where rolname = 'imagen_autoscaler') then
    create role imagen_autoscaler nologin noinherit connection limit 4;
  end if;
end;
$$;
grant usage on schema imagen to imagen_autoscaler;

-- The tries that want a worker: queued (due or waiting out a retry's backoff) and running, less
-- the expired leases the next claim will end instead of requeueing (out of attempts, or their
-- cancel was asked). Running tries count so that a scale-down never takes a worker from a render
-- in progress; an expired lease counts until a claim requeues it. Done, failed and cancelled tries
-- never count. model: that model's tries only, for workers that serve one model; NULL: all.
-- SECURITY DEFINER (owned by postgres): the role reads no table itself, and learns a count only.
create or replace function imagen.queue_depth(model text default null)
 returns bigint
 language sql
 stable
 security definer
 set search_path to ''
as $$
  select count(*) from imagen.jobs j
  where j.status in ('queued', 'running')
    and (queue_depth.model is null or j.model = queue_depth.model)
    and not (j.status = 'running' and j.lease_expires_at < now()
             and (j.cancel_requested or j.attempts >= j.max_attempts));
$$;
revoke execute on function imagen.queue_depth(text) from public, anon, authenticated, service_role;
grant execute on function imagen.queue_depth(text) to imagen_autoscaler;
