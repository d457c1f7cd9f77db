-- The queue order as people see it: every screen (the web app, `imagen status`, the imagine
-- function's GET) reads a try's place from here. The order itself is stated once, in
-- imagen_private.turn_order and line_order (15_queue_order.sql), which claim_next serves by:
-- the owner whose turn it is gets the first try of their line; that owner then goes to the back.
-- So in round k every owner with a k-th try is served once, in turn order: a try's place overall
-- is its rank by (place in its owner's line, its owner's turn). Not modelled: a retried try
-- waiting out its backoff (run_after), which claim_next skips until it is due.
--
-- expected_start is an estimate from the last 20 finished renders: the time left on the running
-- tries plus one mean render per try ahead, shared by the workers rendering now; NULL while
-- nothing has finished yet. A running try's expected_start is when it started.
--
-- SECURITY INVOKER: a caller sees the places among the tries it may read, which is the whole
-- queue for service_role and postgres only; users read their own through imagen.queue_places().
create view imagen.queue with (security_invoker = true) as
with recent as (
  select avg(extract(epoch from d.finished_at - d.started_at))::double precision as seconds
  from (
    select j.finished_at, j.started_at from imagen.jobs j
    where j.status = 'done' and j.started_at is not null and j.finished_at is not null
    order by j.finished_at desc
    limit 20
  ) d
), rendering as (
  select count(distinct j.leased_by) as workers,
         coalesce(sum(greatest(r.seconds - extract(epoch from now() - j.started_at)::double precision, 0)), 0)
           as seconds_left
  from imagen.jobs j cross join recent r
  where j.status = 'running'
), lines as (
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.queued_at,
         row_number() over (
           partition by j.owner_id order by imagen_private.line_order(j.queued_at, j.series_idx, j.id)
         ) as place_in_line
  from imagen.jobs j
  where j.status = 'queued'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
         ) as place
  from lines l join imagen.owner_turns t on t.owner_id = l.owner_id
)
select p.id, p.owner_id, p.series_id, p.series_idx, p.status, p.place, p.place_in_line,
       now() + make_interval(secs => (g.seconds_left + (p.place - 1) * r.seconds) / greatest(g.workers, 1))
         as expected_start
from places p cross join recent r cross join rendering g
union all
select j.id, j.owner_id, j.series_id, j.series_idx, j.status, null, null, j.started_at
from imagen.jobs j
where j.status = 'running';
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
