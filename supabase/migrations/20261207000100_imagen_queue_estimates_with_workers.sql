-- Queue estimates with several workers: a try starts when the workers have rendered every try
-- ahead of it, each worker rendering now busy until its tries' time left is done; the estimate
-- before divided the whole time ahead evenly by the workers, so the next try's start was the
-- average of the workers' time left, not the soonest (a try behind a 5 s and a 0.5 s render was
-- said to start in 2.8 s, and started in 0.65 s). One worker gives the same estimates as before.
-- The view's columns are unchanged. Its CTEs that later ones read per row are materialized: the
-- planner, blind to their size, read them again for each row (230 ms for 1,050 unfinished tries).

create or replace view imagen.queue with (security_invoker = true) as
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
