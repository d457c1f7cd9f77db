-- The cap on unfinished tries ran on every UPDATE statement of imagen.jobs (a statement-level
-- trigger with a transition table), so each of the worker's writes (claim, heartbeat, completion)
-- paid for capturing its rows and calling it: about 0.3 ms of database CPU a try. Only a try
-- leaving a finished status for the queue (a user's retry) can exceed the cap on an update; a row
-- trigger whose condition says so runs for nothing else. The insert check is unchanged; the count
-- and the words move into imagen_private.check_unfinished_cap, which both use.
drop trigger jobs_enforce_unfinished_cap_on_update on imagen.jobs;

create or replace function imagen_private.check_unfinished_cap(owner_id uuid, asked integer)
 returns void
 language plpgsql
 set search_path to ''
as $$
declare
  _unfinished integer;
  _limit integer;
begin
  perform pg_advisory_xact_lock(hashtextextended('imagen.unfinished_tries:' || owner_id::text, 0));
  _limit := imagen_private.max_unfinished_tries(owner_id);
  select count(*) into _unfinished
  from imagen.jobs j
  where j.owner_id = check_unfinished_cap.owner_id and j.status = any(imagen_private.unfinished_statuses());
  if _unfinished > _limit then
    raise exception 'too many unfinished tries: you have % queued or running and asked for % more, the limit is %',
      _unfinished - asked, asked, _limit
      using errcode = 'PT429',
            detail = json_build_object('unfinished', _unfinished - asked, 'asked', asked, 'limit', _limit)::text,
            hint = 'wait for some tries to finish or cancel some, then try again';
  end if;
end;
$$;
grant execute on function imagen_private.check_unfinished_cap(uuid,integer) to authenticated, service_role;

-- New tries, once per statement (a series is one check). The cap protects the queue from users;
-- the worker requeueing a try is not a new request.
create or replace function imagen.jobs_enforce_unfinished_cap()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _owner uuid;
  _asked integer;
begin
  if imagen_private.caller_is_service() then
    return null;
  end if;
  for _owner, _asked in
    select c.owner_id, count(*) from changed c where c.status = 'queued' group by c.owner_id order by 1
  loop
    perform imagen_private.check_unfinished_cap(_owner, _asked);
  end loop;
  return null;
end;
$$;
-- A finished try sent back to the queue (a user's retry) is a new request too. The trigger's
-- condition keeps the check off every other write: the worker's claims, heartbeats, completions
-- and requeues (running -> queued) run no trigger for it.
create or replace function imagen.jobs_enforce_unfinished_cap_on_retry()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  if not imagen_private.caller_is_service() then
    perform imagen_private.check_unfinished_cap(new.owner_id, 1);
  end if;
  return null;
end;
$$;
create trigger jobs_enforce_unfinished_cap_on_retry
  after update of status on imagen.jobs
  for each row when (new.status = 'queued' and not old.status = any(imagen_private.unfinished_statuses()))
  execute function imagen.jobs_enforce_unfinished_cap_on_retry();
