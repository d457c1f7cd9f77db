-- How the outside world hears about Imagen: NOTIFY for a directly connected worker, Realtime
-- for the frontend and the Supabase-transport worker, and the private Storage bucket.

-- One notification per statement, however many tries it queued: a wake-up hint, not a payload.
create function imagen.notify_jobs_queued() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('imagen_jobs', '');
  return null;
end;
$$;
revoke execute on function imagen.notify_jobs_queued() from public, anon, authenticated;

create trigger jobs_notify_queued
  after insert on imagen.jobs
  for each statement execute function imagen.notify_jobs_queued();

alter publication supabase_realtime add table imagen.series, imagen.jobs, imagen.images;

-- Pictures live at {owner}/{series_id or solo}/{job_id}.png; only the service role writes.
insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('imagen', 'imagen', false, 52428800, array['image/png'])
on conflict (id) do nothing;

create policy "imagen bucket: owners read their own folder" on storage.objects
  for select to authenticated
  using (bucket_id = 'imagen' and (storage.foldername(name))[1] = (select auth.uid())::text);
create policy "imagen bucket: owners delete their own folder" on storage.objects
  for delete to authenticated
  using (bucket_id = 'imagen' and (storage.foldername(name))[1] = (select auth.uid())::text);
