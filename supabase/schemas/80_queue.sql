-- The queue order as people see it: every screen (the web app, `imagen status`, the imagine
-- function's GET) reads a try's place from here. The order itself is stated once, in
-- imagen_private.turn_order and line_order (15_queue_order.sql), which claim_next serves by:
-- the owner whose turn it is gets the first try of their line; that owner then goes to the back.
-- So in round k every owner with a k-th try is served once, in turn order: a try's place overall
-- is its rank by (place in its owner's line, its owner's turn). Only runnable tries have a place
-- (imagen_private.try_state, as the claim decides); a try waiting out a retry's backoff is
-- expected when it falls due, a rendering one started when it did; an ending one (its lease
-- expired and the next claim ends it) is not listed.
--
-- expected_start is an estimate from the last 20 finished renders: the time left on the rendering
-- tries plus one mean render per try ahead, shared by the workers rendering now; NULL while
-- nothing has finished yet.
--
-- SECURITY INVOKER: a caller sees the places among the tries it may read, which is the whole
-- queue for service_role and postgres only; users read their own through imagen.queue_places().
create view imagen.queue with (security_invoker = true) as
with states as (
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.queued_at, j.started_at, j.run_after,
         j.leased_by, imagen_private.try_state(j) as state
  from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
), recent as (
  select avg(extract(epoch from d.finished_at - d.started_at))::double precision as seconds
  from (
    select j.finished_at, j.started_at from imagen.jobs j
    where j.status = 'done' and j.started_at is not null and j.finished_at is not null
    order by j.finished_at desc
    limit 20
  ) d
), rendering as (
  select count(distinct s.leased_by) as workers,
         coalesce(sum(greatest(r.seconds - extract(epoch from now() - s.started_at)::double precision, 0)), 0)
           as seconds_left
  from states s cross join recent r
  where s.state = 'rendering'
), lines as (
  select s.*,
         row_number() over (
           partition by s.owner_id order by imagen_private.line_order(s.queued_at, s.series_idx, s.id)
         ) as place_in_line
  from states s
  where s.state = 'runnable'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
         ) as place
  from lines l join imagen.owner_turns t on t.owner_id = l.owner_id
)
select p.id, p.owner_id, p.series_id, p.series_idx, p.status, p.place, p.place_in_line,
       now() + make_interval(secs => (g.seconds_left + (p.place - 1) * r.seconds) / greatest(g.workers, 1))
         as expected_start,
       p.state
from places p cross join recent r cross join rendering g
union all
select s.id, s.owner_id, s.series_id, s.series_idx, s.status, null, null,
       case s.state when 'waiting' then s.run_after else s.started_at end, s.state
from states s
where s.state in ('waiting', 'rendering');
comment on view imagen.queue is
  'Every unfinished try: its place overall and in its owner''s line (in claim order), and an expected start.';
revoke all on imagen.queue from public, anon, authenticated;
grant select on imagen.queue to service_role;

-- The caller's own unfinished tries with their places in the whole queue. SECURITY DEFINER
-- (owned by postgres, which RLS does not bind) because a place counts other users' tries,
-- which the caller may not read; it returns only the caller's own rows, nothing of anyone else.
create or replace function imagen.queue_places()
 returns setof imagen.queue
 language sql
 stable
 security definer
 set search_path to ''
as $$
  select q.* from imagen.queue q where q.owner_id = (select auth.uid())
  order by q.place nulls first;
$$;
grant execute on function imagen.queue_places() to authenticated, service_role;
