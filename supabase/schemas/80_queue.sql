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
-- expected_start is an estimate from each try's own work and the workers' measured speed: a try's
-- render takes about overhead + seconds per megapixel-step × its megapixels × its steps, fitted by
-- least squares over the last 50 finished renders of its model and kind (imagen_private.try_work;
-- the plain ratio of seconds to megapixel-steps while those renders all did the same work), plus
-- the usual gap between one render's end and the next one's start (claiming, loading, storing).
-- A try starts when the workers have rendered every try ahead of it in claim order, each worker
-- rendering now busy until its tries' time left is done (one worker, free now, when none renders):
-- the first t at which sum over workers of max(t - free, 0) reaches the seconds ahead, which is
-- min over j of (seconds ahead + the j soonest free times) / j. So the next try starts when the
-- soonest worker is free, not when their average is. NULL while nothing has finished yet.
-- expected_start_error is that estimate's relative error (the fits' residuals over their renders,
-- summed over the tries ahead as independent errors); NULL while a try ahead has a model and kind
-- with fewer than 3 finished renders, whose error is unknown.
--
-- SECURITY INVOKER: a caller sees the places among the tries it may read, which is the whole
-- queue for service_role and postgres only; users read their own through imagen.queue_places().
create or replace function imagen_private.try_work(settings jsonb)
 returns double precision
 language sql
 immutable
 set search_path to ''
as $$
  select greatest(coalesce((settings ->> 'width')::double precision, 1024) * coalesce((settings ->> 'height')::double precision, 1024)
                  / 1e6 * coalesce((settings ->> 'steps')::double precision, 4), 1e-6);
$$;
comment on function imagen_private.try_work(jsonb) is
  'A try''s work in megapixel-steps: width × height / 10^6 × steps (the settings'' defaults where unset).';
grant execute on function imagen_private.try_work(jsonb) to authenticated, service_role;

create view imagen.queue with (security_invoker = true) as
with states as (
  select j.id, j.owner_id, j.series_id, j.series_idx, j.status, j.queued_at, j.started_at, j.run_after,
         j.leased_by, j.kind, j.settings ->> 'model' as model, imagen_private.try_work(j.settings) as work,
         imagen_private.try_state(j) as state
  from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
), recent as (
  select d.kind, d.settings ->> 'model' as model, imagen_private.try_work(d.settings) as work,
         extract(epoch from d.finished_at - d.started_at)::double precision as seconds,
         extract(epoch from lead(d.started_at) over (order by d.started_at) - d.finished_at)::double precision as gap
  from (
    select j.kind, j.settings, j.started_at, j.finished_at from imagen.jobs j
    where j.status = 'done' and j.started_at is not null and j.finished_at is not null
    order by j.finished_at desc
    limit 50
  ) d
), gap as (
  -- Between a render's end and the next one's start, when the next one was already waiting.
  select coalesce(percentile_cont(0.5) within group (order by r.gap), 0) as seconds
  from recent r where r.gap between 0 and 10
), lines_fit as (
  select r.model, r.kind, count(*) as renders, sum(r.seconds) / sum(r.work) as per_work,
         case when regr_slope(r.seconds, r.work) > 0 and regr_intercept(r.seconds, r.work) >= 0
              then regr_slope(r.seconds, r.work) end as slope,
         regr_intercept(r.seconds, r.work) as intercept
  from recent r group by r.model, r.kind
), fits as (
  select f.*, sqrt(avg(power(coalesce(f.intercept + f.slope * r.work, f.per_work * r.work) - r.seconds, 2)))
                / nullif(avg(r.seconds), 0) as error
  from lines_fit f join recent r on r.model is not distinct from f.model and r.kind = f.kind
  group by f.model, f.kind, f.renders, f.per_work, f.slope, f.intercept
), estimates as materialized (
  -- Each unfinished try with its render's estimate: its model and kind's fit, else its model's
  -- seconds per megapixel-step, else every recent render's. (The CTEs a later one reads per row
  -- are materialized: the planner, blind to their size, would otherwise read them again per row.)
  select s.*,
         (select g.seconds from gap g) + coalesce(
           (select coalesce(f.intercept + f.slope * s.work, f.per_work * s.work) from fits f
            where f.model is not distinct from s.model and f.kind = s.kind),
           (select sum(r.seconds) / sum(r.work) * s.work from recent r where r.model is not distinct from s.model),
           (select sum(r.seconds) / sum(r.work) * s.work from recent r having count(*) > 0)) as seconds,
         (select f.error from fits f where f.model is not distinct from s.model and f.kind = s.kind and f.renders >= 3) as error
  from states s
), rendering as materialized (
  select count(distinct e.leased_by) as workers,
         coalesce(sum(power(e.seconds * e.error, 2)), 0) as variance,
         bool_or(e.error is null) as unsure
  from estimates e
  where e.state = 'rendering'
), free as (
  select sum(greatest(e.seconds - extract(epoch from now() - e.started_at)::double precision, 0)) as seconds_left
  from estimates e
  where e.state = 'rendering'
  group by e.leased_by
), workers as materialized (
  -- The j soonest free workers and their free times summed (one worker, free now, when none renders).
  select row_number() over w as j, sum(f.seconds_left) over w as free_sum
  from (select seconds_left from free union all select 0 where not exists (select from free)) f
  window w as (order by f.seconds_left rows unbounded preceding)
), lines as (
  select e.*,
         row_number() over (
           partition by e.owner_id order by imagen_private.line_order(e.queued_at, e.series_idx, e.id)
         ) as place_in_line
  from estimates e
  where e.state = 'runnable'
), places as (
  select l.*,
         row_number() over (
           order by l.place_in_line, imagen_private.turn_order(t.last_claimed_at, t.first_queued_at, t.owner_id)
         ) as place
  from lines l join imagen.owner_turns t on t.owner_id = l.owner_id
), ahead as (
  select p.*,
         coalesce(sum(p.seconds) over w, 0) as seconds_ahead,
         coalesce(sum(power(p.seconds * p.error, 2)) over w, 0) as variance_ahead,
         coalesce(bool_or(p.error is null) over w, false) as unsure_ahead
  from places p
  window w as (order by p.place rows between unbounded preceding and 1 preceding)
), starts as (
  select a.*, m.starts_in,
         sqrt(g.variance + a.variance_ahead) / greatest(g.workers, 1) as spread,
         coalesce(g.unsure, false) or a.unsure_ahead as unsure
  from ahead a cross join rendering g
  cross join lateral (select min((a.seconds_ahead + w.free_sum) / w.j) as starts_in from workers w) m
)
select s.id, s.owner_id, s.series_id, s.series_idx, s.status, s.place, s.place_in_line,
       case when s.seconds is not null then now() + make_interval(secs => s.starts_in) end as expected_start,
       s.state,
       case when s.seconds is null or s.unsure then null
            when s.starts_in = 0 then 0::double precision
            else s.spread / s.starts_in end as expected_start_error
from starts s
union all
select s.id, s.owner_id, s.series_id, s.series_idx, s.status, null, null,
       case s.state when 'waiting' then s.run_after else s.started_at end, s.state, null
from states s
where s.state in ('waiting', 'rendering');
comment on view imagen.queue is
  'Every unfinished try: its place overall and in its owner''s line (in claim order), an expected start and its relative error.';
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
