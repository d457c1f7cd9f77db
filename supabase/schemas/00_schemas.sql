-- The two schemas and who may use them. imagen is exposed by the API ([api] schemas in
-- supabase/config.toml); imagen_private holds what the RPCs and triggers call and is never exposed.

create schema if not exists imagen;
comment on schema imagen is 'Imagen: prompt series, render queue and images';
grant usage on schema imagen to authenticated, service_role;

create schema imagen_private;
comment on schema imagen_private is
  'Imagen helpers the RPCs and triggers call; never exposed by the API (not in [api] schemas)';
grant usage on schema imagen_private to authenticated, service_role;

-- New functions are executable by nobody but their owner until granted: Postgres grants EXECUTE
-- to PUBLIC on every new function, and only the global form, for the role that runs the
-- migrations (postgres on a hosted project), takes that away. The per-schema form only adds to it.
alter default privileges in schema imagen revoke execute on functions from public;
alter default privileges revoke execute on functions from public;
