-- The shape of the imagen schema: tables, columns, keys, indexes and RLS.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;
select plan(41);

select has_table('imagen', 'series', 'series table exists');
select has_table('imagen', 'jobs', 'jobs table exists');
select has_table('imagen', 'images', 'images table exists');

select columns_are('imagen', 'series', array[
  'id', 'owner_id', 'count', 'selected_image_id', 'created_at', 'parent_image_id', 'favourite', 'kind',
  'settings', 'rerun_of'
], 'series has the planned columns');
select columns_are('imagen', 'jobs', array[
  'id', 'owner_id', 'series_id', 'series_idx', 'status', 'cancel_requested', 'attempts', 'max_attempts',
  'run_after', 'leased_by', 'lease_expires_at', 'progress', 'error', 'image_id', 'created_at',
  'started_at', 'finished_at', 'updated_at', 'queued_at', 'claim_id', 'kind', 'settings'
], 'jobs has the planned columns');
select columns_are('imagen', 'images', array[
  'id', 'job_id', 'owner_id', 'series_id', 'bucket', 'path', 'bytes', 'mime', 'created_at'
], 'images has the planned columns');

select col_is_null('imagen', 'jobs', 'series_id', 'a solo job has no series');
select col_is_null('imagen', 'images', 'series_id', 'a solo image has no series');
select col_not_null('imagen', 'jobs', 'settings', 'every try has its settings (its seed among them)');

select fk_ok('imagen', 'jobs', 'series_id', 'imagen', 'series', 'id', 'jobs.series_id references series');
select fk_ok('imagen', 'images', 'series_id', 'imagen', 'series', 'id', 'images.series_id references series');
select fk_ok('imagen', 'images', 'job_id', 'imagen', 'jobs', 'id', 'images.job_id references jobs');
select fk_ok('imagen', 'series', array['selected_image_id', 'id'], 'imagen', 'images', array['id', 'series_id'],
  'the winner references an image of the same series');

select is(
  (select confdeltype::text from pg_constraint where conname = 'jobs_series_id_fkey'), 'c',
  'deleting a series deletes its tries');
select is(
  (select confdeltype::text from pg_constraint where conname = 'images_series_id_fkey'), 'c',
  'deleting a series deletes its images');
select is(
  (select confdeltype::text || ':' || (select array_agg(attname)::text from pg_attribute
     where attrelid = c.conrelid and attnum = any(c.confdelsetcols))
   from pg_constraint c where conname = 'series_selected_image_fkey'),
  'n:{selected_image_id}',
  'deleting the winning image clears only selected_image_id');

select col_is_unique('imagen', 'images', 'job_id', 'one image per job');
select throws_ok(
  $$insert into imagen.series (owner_id, settings, count) values (gen_random_uuid(), '{"prompt": "p"}', 11)$$,
  '22023', 'n must be between 1 and 10, got 11',
  'series.count is checked to n''s published limits (imagen.settings_rules)');

select is(
  (select pg_get_indexdef(indexrelid) from pg_index where indexrelid = 'imagen.jobs_series_id_series_idx_key'::regclass),
  'CREATE UNIQUE INDEX jobs_series_id_series_idx_key ON imagen.jobs USING btree (series_id, series_idx) WHERE (series_id IS NOT NULL)',
  'partial unique index on jobs (series_id, series_idx)');
select is(
  (select pg_get_indexdef(indexrelid) from pg_index where indexrelid = 'imagen.images_series_id_idx'::regclass),
  'CREATE INDEX images_series_id_idx ON imagen.images USING btree (series_id) WHERE (series_id IS NOT NULL)',
  'partial index on images (series_id)');
select has_index('imagen', 'jobs', 'jobs_claim_idx', 'an index serves the claim query');

-- Every foreign key has an index whose leading columns are the key's columns.
select is(
  (select array_agg(c.conrelid::regclass || '.' || c.conname order by c.conname)
   from pg_constraint c
   where c.contype = 'f' and c.connamespace = 'imagen'::regnamespace
     and not exists (
       select from pg_index i
       where i.indrelid = c.conrelid
         and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] @> c.conkey
     )),
  null,
  'every foreign key is indexed');

select ok((select relrowsecurity from pg_class where oid = 'imagen.series'::regclass), 'RLS on series');
select ok((select relrowsecurity from pg_class where oid = 'imagen.jobs'::regclass), 'RLS on jobs');
select ok((select relrowsecurity from pg_class where oid = 'imagen.images'::regclass), 'RLS on images');

select policies_are('imagen', 'series', array[
  'series: owners read their own', 'series: owners create their own',
  'series: owners update their own', 'series: owners delete their own'
], 'series: one policy per action');
select policies_are('imagen', 'images', array[
  'images: owners read their own', 'images: owners delete their own'
], 'images: users can only read and delete');

select is(
  (select array_agg(distinct r) from pg_policies p, unnest(p.roles) r where p.schemaname = 'imagen'),
  array['authenticated']::name[],
  'every imagen policy is for authenticated');
select is(
  (select count(*)::int from pg_policies where schemaname = 'imagen'
     and coalesce(qual, '') || coalesce(with_check, '') like '%auth.uid()%'
     and coalesce(qual, '') || coalesce(with_check, '') not like '%( SELECT auth.uid() AS uid)%'),
  0,
  'policies evaluate auth.uid() once per statement');

select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'imagen'::regnamespace
     and not ('search_path=""' = any(coalesce(p.proconfig, '{}')))),
  null,
  'every imagen function pins search_path to empty');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'imagen'::regnamespace and p.prosecdef),
  array['images_queue_object_delete', 'jobs_broadcast_changed', 'jobs_broadcast_inserted', 'jobs_note_owner_turn',
        'queue_depth', 'queue_places', 'rerun_series', 'series_broadcast_changed', 'series_queue_mask_delete'],
  'the only SECURITY DEFINER functions are the triggers that queue a deleted picture''s or mask''s object, note an owner''s turn and broadcast live updates (users get no INSERT policy on realtime.messages), queue_depth (the autoscaler''s role reads no table), queue_places (a place counts other users'' tries; it returns the caller''s own) and rerun_series (it writes rerun_of, which users may not, for the caller''s own series only)');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'imagen'::regnamespace and p.prosrc like '%is\_superuser%'),
  null,
  'no imagen function relies on is_superuser (postgres is not one on a hosted project)');

select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'imagen'::regnamespace and has_function_privilege('anon', p.oid, 'execute')),
  null,
  'anon can execute nothing in imagen');
select is(
  (select array_agg(p.proname::text order by p.proname) from pg_proc p
   where p.pronamespace = 'imagen'::regnamespace
     and p.proname in ('claim_job', 'heartbeat_job', 'complete_job', 'fail_job', 'release_job',
                       'pending_object_deletions', 'forget_object_deletions')
     and (has_function_privilege('authenticated', p.oid, 'execute')
          or not has_function_privilege('service_role', p.oid, 'execute'))),
  null,
  'worker RPCs are executable by service_role only');

select ok(
  exists (select from storage.buckets where id = 'imagen' and not public), 'the imagen bucket is private');
select is(
  (select array_agg(tablename::text order by tablename) from pg_publication_tables
   where pubname = 'supabase_realtime' and schemaname = 'imagen'),
  null,
  'nothing of imagen is published to Postgres Changes: live updates are Broadcast from the database');
select ok(
  (select pubinsert and pubupdate and not pubdelete and not pubtruncate from pg_publication
   where pubname = 'supabase_realtime'),
  'Realtime publishes inserts and updates, never deletes (they reach every subscriber)');
select ok(
  not has_column_privilege('authenticated', 'imagen.jobs', 'leased_by', 'select')
    and has_column_privilege('authenticated', 'imagen.jobs', 'status', 'select'),
  'users read their tries but not which worker host holds them');
select ok(
  (select relrowsecurity from pg_class where oid = 'imagen.limits'::regclass)
    and not has_table_privilege('authenticated', 'imagen.limits', 'insert, update, delete'),
  'the cap lives in a table users cannot write');
select is(
  (select pg_get_indexdef(indexrelid) from pg_index where indexrelid = 'imagen.jobs_claim_idx'::regclass),
  'CREATE INDEX jobs_claim_idx ON imagen.jobs USING btree (owner_id, imagen_private.line_order(queued_at, series_idx, id)) WHERE (status = ''queued''::text)',
  'the claim index follows each owner''s line order, as imagen_private.line_order states it');
select ok(
  (select relrowsecurity from pg_class where oid = 'imagen.owner_turns'::regclass)
    and not has_table_privilege('authenticated', 'imagen.owner_turns', 'select, insert, update, delete'),
  'whose turn it is lives in a table users can neither read nor write');

select * from finish();
rollback;
