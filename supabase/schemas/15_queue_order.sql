-- The queue order, stated once. Two keys: whose turn it is among owners, and the order of one
-- owner's line. The claim (claim_next, 50_worker_rpcs.sql) orders by them, backed by expression
-- indexes on the very same functions (20_tables.sql); the view imagen.queue (80_queue.sql) ranks
-- by them. Changing the policy means changing these two functions, and nothing else.
-- Both are immutable SQL functions returning a composite key: the planner inlines them, so an
-- ORDER BY key matches the index built on it.

-- Owners take turns: owners never served go first, in the order they first queued; then the
-- owner served least recently. owner_id breaks ties, so the order is total.
create type imagen_private.turn_key as (
  served boolean,
  last_claimed_at timestamptz,
  first_queued_at timestamptz,
  owner_id uuid
);

create or replace function imagen_private.turn_order(last_claimed_at timestamptz, first_queued_at timestamptz, owner_id uuid)
 returns imagen_private.turn_key
 language sql
 immutable
 set search_path to ''
as $$
  select row(last_claimed_at is not null, coalesce(last_claimed_at, '-infinity'), first_queued_at, owner_id)::imagen_private.turn_key;
$$;
grant execute on function imagen_private.turn_order(timestamptz,timestamptz,uuid) to authenticated, service_role;

-- One owner's line: queue time, a series in index order, solo tries after a series' tries of the
-- same instant; the try's id breaks ties, so the order is total.
create type imagen_private.line_key as (
  queued_at timestamptz,
  solo boolean,
  series_idx integer,
  id uuid
);

create or replace function imagen_private.line_order(queued_at timestamptz, series_idx integer, id uuid)
 returns imagen_private.line_key
 language sql
 immutable
 set search_path to ''
as $$
  select row(queued_at, series_idx is null, series_idx, id)::imagen_private.line_key;
$$;
grant execute on function imagen_private.line_order(timestamptz,integer,uuid) to authenticated, service_role;
