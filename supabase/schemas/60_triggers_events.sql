-- The tables' own rules and the events that leave them: the job state machine users may drive,
-- the cap on unfinished tries, a series' tries match the series, fair-turn bookkeeping, the
-- Storage clean-up queue, and the NOTIFY wake-up. Trigger functions are nobody's to call.

-- The one place that names the wake-up channel the postgres transport listens on.
create or replace function imagen_private.notify_jobs()
 returns void
 language sql
 set search_path to ''
as $$
  select pg_notify('imagen_jobs', '')
$$;
grant execute on function imagen_private.notify_jobs() to authenticated, service_role;

-- One notification per statement, however many tries it queued: a wake-up hint, not a payload.
create or replace function imagen.notify_jobs_queued()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  perform imagen_private.notify_jobs();
  return null;
end;
$$;
create trigger jobs_notify_queued
  after insert on imagen.jobs
  for each statement execute function imagen.notify_jobs_queued();

-- Every change to a try stamps updated_at, whoever makes it.
create or replace function imagen.touch_updated_at()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
create trigger jobs_touch_updated_at
  before update on imagen.jobs
  for each row execute function imagen.touch_updated_at();

-- Users may only cancel a try or send a failed/cancelled one back to the queue; the worker
-- (service role) and the database owner drive every other transition.
create or replace function imagen.jobs_guard_user_update()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
begin
  if imagen_private.caller_is_service() then
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
      new.queued_at := now();
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
  return new;
end;
$$;
create trigger jobs_guard_user_update
  before update on imagen.jobs
  for each row execute function imagen.jobs_guard_user_update();

-- A series only grows (add tries); lowering count would orphan tries.
create or replace function imagen.series_guard_count()
 returns trigger
 language plpgsql
 set search_path to ''
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

-- The cap on a user's unfinished tries (imagen.limits): 22023's sibling PT429, which PostgREST
-- answers HTTP 429; DETAIL carries the numbers as JSON for clients. One owner at a time, under a
-- per-owner lock held to the end of the transaction: a concurrent request of the same owner waits,
-- then (read committed) counts the tries this one committed. `asked`: the tries this statement
-- queued, which the count includes. An anonymous user whose cap is 0 (the default) is told to
-- sign up: PT403, HTTP 403.
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
  if _unfinished > _limit and _limit = 0 and imagen_private.is_anonymous(check_unfinished_cap.owner_id) then
    raise exception 'anonymous users get no GPU time: sign up with an email address to render pictures'
      using errcode = 'PT403',
            detail = json_build_object('unfinished', _unfinished - asked, 'asked', asked, 'limit', _limit)::text,
            hint = 'sign up (or link an email address to this account), then try again';
  end if;
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
create trigger jobs_enforce_unfinished_cap_on_insert
  after insert on imagen.jobs
  referencing new table as changed
  for each statement execute function imagen.jobs_enforce_unfinished_cap();

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

-- A series' kind and settings, checked (defaults filled in) when either is written, and its count
-- within n's rule and its kind's max_tries when it is written: never on the other writes (a pick,
-- a favourite). A kind with a source needs the picture it is made from; a picture a user gives
-- (an edit's mask) must be theirs and fit the picture (imagen_private.mask_problem).
create or replace function imagen.series_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text;
begin
  if tg_op = 'INSERT' or (new.kind, new.settings) is distinct from (old.kind, old.settings) then
    new.settings := imagen_private.checked_settings(new.kind, new.settings);
    if tg_op = 'INSERT' and new.parent_image_id is null
       and imagen_private.needs_source(new.kind) then
      raise exception 'parent_image_id: a % series is made from one of your pictures', new.kind
        using errcode = '22023';
    end if;
    select imagen_private.mask_problem(r.field, new.settings ->> r.field,
                                       (new.settings ->> 'width')::integer, (new.settings ->> 'height')::integer)
    into _problem
    from imagen.settings_rules() r
    where r.kind = 'picture' and r.part = 'settings' and new.settings ? r.field
    order by r.position limit 1;
    if _problem is not null then
      raise exception '%', _problem using errcode = '22023';
    end if;
  end if;
  if tg_op = 'INSERT' or (new.kind, new.count) is distinct from (old.kind, old.count) then
    perform imagen_private.assert_tries_of_kind(new.kind, new.count);
  end if;
  return new;
end;
$$;
create trigger series_check_settings
  before insert or update of kind, settings, count on imagen.series
  for each row execute function imagen.series_check_settings();

-- A try of a series takes its series' kind and settings, with its own seed (the series' base seed
-- + index - 1, or random) and, for a variation, the path of the picture it is made from, read
-- through RLS from the series' parent picture: users never name a path. A solo try's settings are
-- checked like a series'; it cannot be of a kind that needs a source. Its index is within n's rule.
create or replace function imagen.jobs_take_their_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _series imagen.series;
  _source text;
begin
  if new.series_id is null then
    if imagen_private.needs_source(new.kind) then
      raise exception 'kind: a % try is made from one of your pictures, in a series (vary_image)', new.kind
        using errcode = '22023';
    end if;
    new.settings := imagen_private.checked_settings(new.kind, new.settings);
    new.settings := new.settings || jsonb_build_object(
      'seed', coalesce((new.settings ->> 'seed')::bigint, imagen_private.try_seed(null, 1)));
    return new;
  end if;
  perform imagen_private.assert_valid_n(new.series_idx);
  -- A series the caller cannot see is refused by the insert policy and the foreign key.
  select * into _series from imagen.series s where s.id = new.series_id;
  if not found then
    return new;
  end if;
  new.kind := _series.kind;
  new.settings := _series.settings || jsonb_build_object(
    'seed', imagen_private.try_seed((_series.settings ->> 'seed')::bigint, new.series_idx));
  if imagen_private.needs_source(new.kind) then
    select i.path into _source from imagen.images i where i.id = _series.parent_image_id;
    if _source is null then
      raise exception 'parent_image_id: the picture series % is made from was deleted', new.series_id
        using errcode = '22023';
    end if;
    new.settings := new.settings || jsonb_build_object('source_path', _source);
  end if;
  return new;
end;
$$;
create trigger jobs_take_their_settings
  before insert on imagen.jobs
  for each row execute function imagen.jobs_take_their_settings();

-- The database stays the boundary for a try's settings written later (by the service role or the
-- database owner): checked when they change, never on a status, lease or progress write; a kind
-- with a source keeps its series and its source's path; integers are kept as integers.
create or replace function imagen.jobs_check_settings()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _problem text := imagen_private.settings_problem(new.kind, new.settings);
begin
  if _problem is null and imagen_private.needs_source(new.kind)
     and (new.series_id is null or new.settings ->> 'source_path' is null) then
    _problem := format('kind: a %s try is made from a picture of its series (source_path)', new.kind);
  end if;
  if _problem is not null then
    raise exception '%', _problem using errcode = '22023';
  end if;
  new.settings := imagen_private.integers_as_integers(new.settings);
  return new;
end;
$$;
create trigger jobs_check_settings
  before update of kind, settings on imagen.jobs
  for each row when ((new.kind, new.settings) is distinct from (old.kind, old.settings))
  execute function imagen.jobs_check_settings();

-- Checked at commit, when create_series and add_tries have written both the count and the tries.
create or replace function imagen.series_count_matches_tries()
 returns trigger
 language plpgsql
 set search_path to ''
as $$
declare
  _count integer;
  _tries integer;
begin
  select s.count, (select count(*) from imagen.jobs j where j.series_id = s.id)
  into _count, _tries
  from imagen.series s where s.id = new.id;
  if found and _tries <> _count then
    raise exception 'count must equal the number of tries of series % (count %, % tries)', new.id, _count, _tries
      using errcode = '22023',
            hint = 'add tries with imagen.add_tries';
  end if;
  return null;
end;
$$;
create constraint trigger series_count_matches_tries
  after insert or update of count on imagen.series
  deferrable initially deferred
  for each row execute function imagen.series_count_matches_tries();

-- owner_turns follows jobs: queued_tries counts each owner's queued tries (the claim walks only
-- owners with some), and a claim (queued -> running) sends the owner to the back of the turns.
-- SECURITY DEFINER, owned by postgres: tries are inserted, cancelled, retried and deleted as the
-- user, who must not get rights on owner_turns (or could move their own turn). It writes only the
-- owners of the changed rows. Inserts and deletes per statement (a series is one write per owner);
-- an update per row, only when a try enters or leaves the queue.
create or replace function imagen.jobs_note_owner_turn()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into imagen.owner_turns as t (owner_id, queued_tries)
    select n.owner_id, count(*) filter (where n.status = 'queued') from new_jobs n group by n.owner_id
    on conflict (owner_id) do update set queued_tries = t.queued_tries + excluded.queued_tries
    where excluded.queued_tries > 0;
  elsif tg_op = 'UPDATE' then
    update imagen.owner_turns t
    set queued_tries = t.queued_tries + case when new.status = 'queued' then 1 else -1 end,
        last_claimed_at = case when old.status = 'queued' and new.status = 'running' then clock_timestamp()
                               else t.last_claimed_at end
    where t.owner_id = new.owner_id;
  else
    update imagen.owner_turns t set queued_tries = t.queued_tries - o.tries
    from (select d.owner_id, count(*) as tries from old_jobs d where d.status = 'queued' group by d.owner_id) o
    where t.owner_id = o.owner_id;
  end if;
  return null;
end;
$$;
create trigger jobs_note_owner_turn
  after insert on imagen.jobs
  referencing new table as new_jobs
  for each statement execute function imagen.jobs_note_owner_turn();
create trigger jobs_note_owner_turn_moved
  after update of status on imagen.jobs
  for each row when ((old.status = 'queued') is distinct from (new.status = 'queued'))
  execute function imagen.jobs_note_owner_turn();
create trigger jobs_note_owner_turn_deleted
  after delete on imagen.jobs
  referencing old table as old_jobs
  for each statement execute function imagen.jobs_note_owner_turn();

-- SECURITY DEFINER, owned by postgres: the row must be written whoever deletes the image (the
-- owner directly, or a cascade), and users must not get INSERT on this table, or they could
-- queue another user's objects for deletion. It copies only the deleted row's own bucket and path.
create or replace function imagen.images_queue_object_delete()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  insert into imagen.objects_to_delete (owner_id, bucket, path) values (old.owner_id, old.bucket, old.path);
  return null;
end;
$$;
create trigger images_queue_object_delete
  after delete on imagen.images
  for each row execute function imagen.images_queue_object_delete();

-- An edit's mask (settings.mask_path, uploaded by its owner to <owner>/masks/ in the imagen
-- bucket) goes with the last of the owner's series that names it (a rerun of an edit asks with
-- the same mask). SECURITY DEFINER for the reason above; the path is the deleted row's own.
create or replace function imagen.series_queue_mask_delete()
 returns trigger
 language plpgsql
 security definer
 set search_path to ''
as $$
begin
  insert into imagen.objects_to_delete (owner_id, bucket, path)
  select distinct gone.owner_id,
         -- Where its picture is (a worker's local storage keeps masks beside pictures), else imagen.
         coalesce((select i.bucket from imagen.images i where i.id = gone.parent_image_id), 'imagen'),
         gone.settings->>'mask_path'
  from old_series gone
  where gone.settings->>'mask_path' is not null
    and not exists (select from imagen.series kept
                    where kept.owner_id = gone.owner_id and kept.settings->>'mask_path' = gone.settings->>'mask_path');
  return null;
end;
$$;
create trigger series_queue_mask_delete
  after delete on imagen.series
  referencing old table as old_series
  for each statement execute function imagen.series_queue_mask_delete();
