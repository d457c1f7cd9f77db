-- Every picture gets a small WebP thumbnail beside it ({job_id}.webp next to {job_id}.png), which
-- the screens load instead of the full PNG: the bucket accepts that type too.
update storage.buckets
set allowed_mime_types = array['image/png', 'image/webp']
where id = 'imagen';
