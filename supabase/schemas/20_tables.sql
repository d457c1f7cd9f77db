-- Series of tries, the queue, the finished images, and the queue's bookkeeping.
-- Users reach these tables through RLS and column grants (30_security.sql); worker state (status,
-- lease, attempts, image) is written only by the service role through the worker RPCs.

create table imagen.series (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- count's range (n's rule) is checked by series_check_settings (60_triggers_events.sql).
  count integer not null,
  selected_image_id uuid,
  created_at timestamptz not null default now(),
  -- The picture a series of a kind with a source (vary) is made from; its lineage.
  parent_image_id uuid,
  -- The owner's mark in the gallery (a series is one user's, so the mark is per user).
  favourite boolean not null default false,
  -- The kind of work (imagen.try_kinds) and its settings, one value checked against
  -- imagen.settings_rules() by series_check_settings when either is written; seed, if any, is the
  -- base seed of the tries.
  kind text not null default 'generate',
  settings jsonb not null default '{}'::jsonb,
  constraint series_only_a_variation_has_a_parent check (parent_image_id is null or kind <> 'generate'),
  -- The series this one asks again with new seeds (imagen.rerun_series); its lineage.
  rerun_of uuid references imagen.series (id) on delete set null
);
comment on table imagen.series is 'One prompt asked for count times; the user picks a winner.';
comment on column imagen.series.rerun_of is 'The series this one is a rerun of (the same request, new seeds), while it exists.';
comment on column imagen.series.settings is 'What every try of the series is rendered with (imagen.settings_rules): prompt, model, size, steps, style, base seed, a variation''s strength.';

create table imagen.jobs (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- Deleting a series deletes its tries (and, below, its pictures).
  series_id uuid references imagen.series (id) on delete cascade,
  series_idx integer,
  status text not null default 'queued'
    constraint jobs_status_known check (status in ('queued', 'running', 'done', 'failed', 'cancelled')),
  cancel_requested boolean not null default false,
  attempts integer not null default 0,
  max_attempts integer not null default 3 constraint jobs_max_attempts_range check (max_attempts between 1 and 10),
  run_after timestamptz not null default now(),
  leased_by text,
  lease_expires_at timestamptz,
  progress integer not null default 0,
  error text,
  image_id uuid,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  -- When the user last put the try in the queue: set on insert and by a user's retry; a worker's
  -- release, a failure's backoff or an expired lease keep it (the try was already being served).
  queued_at timestamptz not null default now(),
  claim_id uuid,
  -- The kind of work and the whole of what the renderer needs: its series' settings with this
  -- try's own seed, and for a variation its source picture (jobs_take_their_settings).
  kind text not null default 'generate',
  settings jsonb not null default '{}'::jsonb,
  constraint jobs_series_member_has_index check (series_id is null or series_idx is not null),
  -- A running try has a lease that ends: one without would be held for ever.
  constraint jobs_running_has_a_lease check (status <> 'running' or lease_expires_at is not null)
);
comment on table imagen.jobs is 'One try: queued -> running -> done | failed | cancelled.';
comment on column imagen.jobs.claim_id is 'The claim that took this try (a retried claim finds it).';
comment on column imagen.jobs.settings is 'What the try is rendered with (imagen.settings_rules); a series'' try takes its series'' settings and its own seed.';

create table imagen.images (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null references imagen.jobs (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  series_id uuid references imagen.series (id) on delete cascade,
  bucket text not null,
  path text not null,
  bytes integer not null constraint images_bytes_positive check (bytes > 0),
  mime text not null default 'image/png',
  created_at timestamptz not null default now(),
  -- A job can never produce two images.
  constraint images_job_id_key unique (job_id),
  -- Target of the winner foreign key: (image, its series).
  constraint images_id_series_id_key unique (id, series_id)
);
comment on table imagen.images is 'One per finished try; series_id copied from its job, settings read through it.';

alter table imagen.jobs
  add constraint jobs_image_id_fkey foreign key (image_id)
  references imagen.images (id) on delete set null;

-- The winner must be an image of this very series; deleting it clears only the winner.
alter table imagen.series
  add constraint series_selected_image_fkey foreign key (selected_image_id, id)
  references imagen.images (id, series_id) on delete set null (selected_image_id);

-- A variation series' parent picture; deleting it keeps the series (its tries are done or fail).
alter table imagen.series
  add constraint series_parent_image_id_fkey foreign key (parent_image_id)
  references imagen.images (id) on delete set null;

-- Storage objects of deleted image rows, written by a trigger in the deleting transaction; the
-- worker removes the objects through the Storage API, then the rows.
create table imagen.objects_to_delete (
  id bigint generated always as identity primary key,
  owner_id uuid not null,
  bucket text not null,
  path text not null,
  created_at timestamptz not null default now()
);
comment on table imagen.objects_to_delete is
  'Storage objects whose image rows are gone; the worker removes them, then the row.';

-- The defaults (owner_id NULL: one row for signed-up users, one with `anonymous` for anonymous
-- users) and per-user overrides of the cap on unfinished tries and on webhook endpoints. A user's
-- own row wins; max_webhook_endpoints NULL there takes the default's. No row for a user and no
-- default row means no cap; an anonymous user with neither gets no tries and no endpoints. A
-- table, not a GUC: any session could raise a GUC.
create table imagen.limits (
  id bigint generated always as identity primary key,
  owner_id uuid references auth.users (id) on delete cascade,
  max_unfinished_tries integer not null constraint limits_max_unfinished_tries_range check (max_unfinished_tries >= 0),
  anonymous boolean not null default false,
  max_webhook_endpoints integer constraint limits_max_webhook_endpoints_range check (max_webhook_endpoints >= 0),
  constraint limits_owner_id_key unique (owner_id),
  constraint limits_anonymous_is_a_default check (not (anonymous and owner_id is not null))
);
-- One default of each kind.
create unique index limits_default_key on imagen.limits (anonymous) where owner_id is null;
comment on table imagen.limits is
  'Per-user limits; the rows with owner_id NULL are the defaults (anonymous: for anonymous users).';

-- Fair turns: a claim serves the owner served least recently first, found through this table's
-- index whatever the length of the queue. Triggers on jobs keep it (60_triggers_events.sql):
-- queued_tries counts the owner's queued tries, so the claim's index holds only owners with
-- something queued and owners who have been idle for ages cost a claim nothing.
create table imagen.owner_turns (
  owner_id uuid primary key references auth.users (id) on delete cascade,
  last_claimed_at timestamptz,
  first_queued_at timestamptz not null default now(),
  queued_tries integer not null default 0 constraint owner_turns_queued_tries_nonnegative check (queued_tries >= 0)
);
comment on table imagen.owner_turns is
  'When each owner last had a try claimed and how many they have queued: claims serve the owner served least recently first.';

-- The original plan's partial indexes.
create unique index jobs_series_id_series_idx_key on imagen.jobs (series_id, series_idx)
  where series_id is not null;
create index images_series_id_idx on imagen.images (series_id) where series_id is not null;
-- The claim query: owners with queued tries in turn order, then an owner's queued tries in line
-- order, both on the keys that state the order (15_queue_order.sql).
create index jobs_claim_idx on imagen.jobs (owner_id, imagen_private.line_order(queued_at, series_idx, id))
  where status = 'queued';
create index owner_turns_turn_idx on imagen.owner_turns (imagen_private.turn_order(last_claimed_at, first_queued_at, owner_id))
  where queued_tries > 0;
-- Expired leases are found among running jobs only.
create index jobs_running_lease_idx on imagen.jobs (lease_expires_at) where status = 'running';
-- A retried claim finds what its first attempt took.
create index jobs_claim_id_idx on imagen.jobs (claim_id) where claim_id is not null;
-- Every foreign key indexed.
create index series_owner_id_created_at_idx on imagen.series (owner_id, created_at desc);
create index series_selected_image_id_idx on imagen.series (selected_image_id, id);
create index series_parent_image_id_idx on imagen.series (parent_image_id);
create index series_rerun_of_idx on imagen.series (rerun_of);
-- The gallery's favourites filter, newest first, a page at a time.
create index series_owner_id_favourite_idx on imagen.series (owner_id, created_at desc) where favourite;
create index jobs_owner_id_status_idx on imagen.jobs (owner_id, status);
create index jobs_image_id_idx on imagen.jobs (image_id);
create index images_owner_id_created_at_idx on imagen.images (owner_id, created_at desc);
create index objects_to_delete_owner_id_idx on imagen.objects_to_delete (owner_id);
-- The flat gallery: an owner's solo images.
create index images_solo_gallery_idx on imagen.images (owner_id, created_at desc)
  where series_id is null;

-- Data, not schema (db diff does not carry it; a migration inserts it): the default caps. Anonymous
-- users (Auth's anonymous sign-ins, off in config.toml) get no GPU time and no webhooks unless an
-- operator raises their row.
insert into imagen.limits (owner_id, max_unfinished_tries, max_webhook_endpoints) values (null, 50, 10);
insert into imagen.limits (owner_id, anonymous, max_unfinished_tries, max_webhook_endpoints) values (null, true, 0, 0);
