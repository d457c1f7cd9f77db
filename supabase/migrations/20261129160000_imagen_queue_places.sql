-- The queue order stated once (issue 20): the view imagen.queue gives every unfinished try its
-- place overall, its place in its owner's line and an expected start, in the order claim_next
-- serves; imagen.queue_places() gives a user theirs. The web app, `imagen status` and the imagine
-- function's GET read it instead of counting places themselves (they disagreed with the claim).
-- The definitions and their reasons: supabase/schemas/80_queue.sql.

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
         row_number() over (partition by j.owner_id order by j.queued_at, j.series_idx nulls last, j.id)
           as place_in_line
  from imagen.jobs j
  where j.status = 'queued'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, t.last_claimed_at nulls first, t.first_queued_at, l.owner_id
         ) as place
  from lines l left join imagen.owner_turns t on t.owner_id = l.owner_id
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
