-- A try's state rules, each stated once. The claim (50_worker_rpcs.sql), the autoscaler's count
-- (90_autoscaling.sql), the operator's overview (90_operator_view.sql), the queue places
-- (80_queue.sql), the cap (60_triggers_events.sql) and the web app's generated constants
-- (scripts/gen-types) all ask these functions; none restates them.

-- The statuses of a try that is not finished: it counts against its owner's cap, screens follow
-- it live. Every other status is finished: nothing more happens unless someone retries it. An
-- array, so `status = any(imagen_private.unfinished_statuses())` folds to a constant and uses the
-- status indexes.
create or replace function imagen_private.unfinished_statuses()
 returns text[]
 language sql
 immutable
 set search_path to ''
as $$
  select '{queued,running}'::text[]
$$;
grant execute on function imagen_private.unfinished_statuses() to authenticated, service_role;

-- Where a try stands now, as the claim treats it:
--   runnable  - a claim hands it out now: queued and due, or running on an expired lease with
--               attempts left and no cancel asked (the claim puts it back in the queue first);
--   waiting   - queued, waiting out a retry's backoff (run_after);
--   rendering - running on a live lease;
--   ending    - running on an expired lease, out of attempts or cancelled: the next claim ends it;
--   done, failed, cancelled - finished.
create or replace function imagen_private.try_state(try imagen.jobs)
 returns text
 language sql
 stable
 set search_path to ''
as $$
  select case
    when try.status = 'queued' then case when try.run_after <= now() then 'runnable' else 'waiting' end
    when try.status = 'running' then case
      when try.lease_expires_at >= now() then 'rendering'
      when try.cancel_requested or try.attempts >= try.max_attempts then 'ending'
      else 'runnable'
    end
    else try.status
  end
$$;
grant execute on function imagen_private.try_state(imagen.jobs) to authenticated, service_role;

-- A worker is wanted for it: runnable, waiting out a backoff, or rendering. What an autoscaler
-- counts, so that a scale-down never takes a worker from a render in progress.
create or replace function imagen_private.wants_a_worker(try imagen.jobs)
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select imagen_private.try_state(try) in ('runnable', 'waiting', 'rendering')
$$;
grant execute on function imagen_private.wants_a_worker(imagen.jobs) to authenticated, service_role;

-- A worker that declares these models and kinds (NULL: any) may render this try.
create or replace function imagen_private.serves(try imagen.jobs, models text[], kinds text[])
 returns boolean
 language sql
 stable
 set search_path to ''
as $$
  select (models is null or try.settings ->> 'model' = any(models)) and (kinds is null or try.kind = any(kinds))
$$;
grant execute on function imagen_private.serves(imagen.jobs,text[],text[]) to authenticated, service_role;
