-- Imagen: series of tries, the job queue, and the finished images.
-- Users reach these tables through RLS and column grants; worker state (status, lease,
-- attempts, image) is written only by the service role through the worker RPCs.

create schema if not exists imagen;
comment on schema imagen is 'Imagen: prompt series, render queue and images';

grant usage on schema imagen to authenticated, service_role;
-- Postgres grants EXECUTE to PUBLIC on every new function; in this schema nothing is public.
alter default privileges in schema imagen revoke execute on functions from public;

create table imagen.series (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  prompt text not null,
  model text not null,
  width integer not null,
  height integer not null,
  steps integer not null,
  style text,
  base_seed bigint,
  count integer not null constraint series_count_range check (count between 1 and 10),
  selected_image_id uuid,
  created_at timestamptz not null default now()
);
comment on table imagen.series is 'One prompt asked for count times; the user picks a winner.';

create table imagen.jobs (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  series_id uuid references imagen.series (id) on delete set null,
  series_idx integer constraint jobs_series_idx_range check (series_idx between 1 and 10),
  prompt text not null,
  model text not null,
  width integer not null,
  height integer not null,
  steps integer not null,
  style text,
  seed bigint not null,
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
  constraint jobs_series_member_has_index check (series_id is null or series_idx is not null)
);
comment on table imagen.jobs is 'One try: queued -> running -> done | failed | cancelled.';

create table imagen.images (
  id uuid primary key default gen_random_uuid(),
  job_id uuid not null references imagen.jobs (id) on delete cascade,
  owner_id uuid not null references auth.users (id) on delete cascade,
  series_id uuid references imagen.series (id) on delete set null,
  prompt text not null,
  model text not null,
  width integer not null,
  height integer not null,
  steps integer not null,
  style text,
  seed bigint not null,
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
comment on table imagen.images is 'One per finished try; series_id copied from its job.';

alter table imagen.jobs
  add constraint jobs_image_id_fkey foreign key (image_id)
  references imagen.images (id) on delete set null;

-- The winner must be an image of this very series; deleting it clears only the winner.
alter table imagen.series
  add constraint series_selected_image_fkey foreign key (selected_image_id, id)
  references imagen.images (id, series_id) on delete set null (selected_image_id);

-- Render settings are checked again here so a direct insert cannot bypass the RPCs' rules.
alter table imagen.series
  add constraint series_width_valid check (width between 256 and 2048 and width % 16 = 0),
  add constraint series_height_valid check (height between 256 and 2048 and height % 16 = 0),
  add constraint series_steps_valid check (steps between 1 and 50),
  add constraint series_prompt_valid check (prompt ~ '[^[:space:]]' and length(prompt) <= 2000),
  add constraint series_base_seed_valid check (base_seed between 0 and 4294967295);
alter table imagen.jobs
  add constraint jobs_width_valid check (width between 256 and 2048 and width % 16 = 0),
  add constraint jobs_height_valid check (height between 256 and 2048 and height % 16 = 0),
  add constraint jobs_steps_valid check (steps between 1 and 50),
  add constraint jobs_prompt_valid check (prompt ~ '[^[:space:]]' and length(prompt) <= 2000),
  add constraint jobs_seed_valid check (seed between 0 and 4294967295);

-- The original plan's partial indexes.
create unique index jobs_series_id_series_idx_key on imagen.jobs (series_id, series_idx)
  where series_id is not null;
create index images_series_id_idx on imagen.images (series_id) where series_id is not null;
-- The claim query: oldest queued first, a series in index order.
create index jobs_claim_idx on imagen.jobs (created_at, series_idx) where status = 'queued';
-- Expired leases are found among running jobs only.
create index jobs_running_lease_idx on imagen.jobs (lease_expires_at) where status = 'running';
-- Every foreign key indexed.
create index series_owner_id_created_at_idx on imagen.series (owner_id, created_at desc);
create index series_selected_image_id_idx on imagen.series (selected_image_id, id);
create index jobs_owner_id_status_idx on imagen.jobs (owner_id, status);
create index jobs_image_id_idx on imagen.jobs (image_id);
create index images_owner_id_created_at_idx on imagen.images (owner_id, created_at desc);
-- The flat gallery: an owner's solo images.
create index images_solo_gallery_idx on imagen.images (owner_id, created_at desc)
  where series_id is null;
