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

-- The tries that want a worker (imagen_private.wants_a_worker: runnable, waiting out a backoff,
-- or rendering) among those a worker serving this model would claim (imagen_private.serves);
-- NULL: every model. Rendering tries count so that a scale-down never takes a worker from a render
-- in progress. SECURITY DEFINER (owned by postgres): the role reads no table itself, and learns a
-- count only.
create or replace function imagen.queue_depth(model text default null)
 returns bigint
 language sql
 stable
 security definer
 set search_path to ''
as $$
  select count(*) from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
    and imagen_private.wants_a_worker(j)
    and imagen_private.serves(j, case when queue_depth.model is not null then array[queue_depth.model] end, null);
$$;
revoke execute on function imagen.queue_depth(text) from public, anon, authenticated, service_role;
grant execute on function imagen.queue_depth(text) to imagen_autoscaler;
