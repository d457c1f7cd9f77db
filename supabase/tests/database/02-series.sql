-- The original plan's acceptance: a series of tries, the flat list, and the winner.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(16);

insert into auth.users (id, email) values
  ('aaaaaaaa-0000-0000-0000-000000000001', 'alice@example.com');

-- Alice asks for three tries, as the frontend does.
set local role authenticated;
set local request.jwt.claims = '{"sub": "aaaaaaaa-0000-0000-0000-000000000001", "role": "authenticated"}';
create temp table created on commit drop as
  select imagen.create_series('a red fox in snow', 3) as s;
create temp table one_solo on commit drop as
  select (imagen.submit_job('a solo owl')).id as job_id;
reset role;

select is(
  (select count(*)::int from imagen.jobs where series_id = (select (s ->> 'id')::uuid from created)),
  3, 'create_series(n=3) queues three jobs sharing the series id');
select is(
  (select array_agg(series_idx order by series_idx) from imagen.jobs
   where series_id = (select (s ->> 'id')::uuid from created)),
  array[1, 2, 3], 'series_idx runs 1..3');
select is(
  (select count(distinct settings ->> 'seed')::int from imagen.jobs where series_id = (select (s ->> 'id')::uuid from created)),
  3, 'every try has its own seed');
select is(
  (select jsonb_array_length(s -> 'try_ids') from created), 3, 'create_series returns the try ids');
select is(
  (select count(*)::int from imagen.jobs where series_id is null), 1, 'the solo job has no series');

-- The worker finishes every job.
set local role service_role;
select is(
  (select count(*)::int from (select imagen.claim_job('w', 60) from generate_series(1, 4)) claimed),
  4, 'the worker claims all four tries');
select is(
  (select count(*)::int from (select imagen.complete_job(id, 'w', 'imagen', id || '.png', 100)
                              from imagen.jobs) completed),
  4, 'the worker completes all four tries');
reset role;

select is(
  (select count(*)::int from imagen.images where series_id = (select (s ->> 'id')::uuid from created)),
  3, 'each series try gives an image carrying the series id');
select is(
  (select count(*)::int from imagen.images i join imagen.jobs j on j.id = i.job_id
   where i.series_id is not distinct from j.series_id),
  4, 'every image carries its job''s series_id, NULL for the solo job');
select is(
  (select array_agg(job_id) from imagen.images where series_id is null),
  (select array_agg(job_id) from one_solo),
  'the flat list shows only the solo image');

create temp table pick on commit drop as
  select id as image_id, job_id from imagen.images
  where series_id = (select (s ->> 'id')::uuid from created) order by created_at limit 1;
grant select on pick to authenticated;

set local role authenticated;
select lives_ok(
  format('select imagen.select_image(%L, %L)', (select s ->> 'id' from created), (select image_id from pick)),
  'the winner can be set to a member image');
select throws_ok(
  format('select imagen.select_image(%L, %L)', (select s ->> 'id' from created),
         (select id from imagen.images where series_id is null)),
  '22023', null, 'the owner''s solo image cannot win the series');
select throws_ok(
  format('select imagen.select_image(%L, %L)', (select s ->> 'id' from created), gen_random_uuid()),
  '22023', null, 'a bogus image id is refused');
select is(
  (select selected_image_id from imagen.series), (select image_id from pick), 'the winner is kept');

delete from imagen.images where id = (select image_id from pick);
select is(
  (select selected_image_id from imagen.series), null, 'deleting the winning image clears the winner');
select is(
  (select status || ':' || coalesce(image_id::text, 'NULL') from imagen.jobs where id = (select job_id from pick)),
  'done:NULL', 'its job stays done with image_id NULL');

select * from finish();
rollback;
