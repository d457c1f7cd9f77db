-- A retried try joins the back of the queue. Claims used to order by created_at, so retrying an
-- old cancelled or failed try put it ahead of everything queued since. queued_at is when the
-- user last put the try in the queue: set on insert and by a user's retry; a worker's release,
-- a failure's backoff or an expired lease keep it (the try was already being served).

alter table imagen.jobs add column queued_at timestamptz not null default now();
-- Tries already queued keep their place; filling the column is no change to a try.
alter table imagen.jobs disable trigger jobs_touch_updated_at;
update imagen.jobs set queued_at = created_at;
alter table imagen.jobs enable trigger jobs_touch_updated_at;

drop index imagen.jobs_claim_idx;
create index jobs_claim_idx on imagen.jobs (queued_at, series_idx) where status = 'queued';

-- claim_job orders by queued_at from 20261128100000_imagen_fair_turns.sql on, where it also
-- takes turns between users (written there once).

-- A user's retry stamps queued_at, and the guard trusts named roles (caller_is_service), not
-- is_superuser, which postgres is not on a hosted project.
create or replace function imagen.jobs_guard_user_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if imagen.caller_is_service() then
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

