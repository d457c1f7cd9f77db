-- The worker removes the Storage objects listed in objects_to_delete (pictures of deleted
-- series and images), then forgets the rows: reading first and forgetting after, a worker that
-- dies in between removes the same objects again next time, which is harmless.

create function imagen.pending_object_deletions(max_rows integer default 100)
returns setof imagen.objects_to_delete
language sql
set search_path = ''
as $$
  select * from imagen.objects_to_delete order by id limit greatest(max_rows, 0);
$$;

create function imagen.forget_object_deletions(ids bigint[]) returns integer
language sql
set search_path = ''
as $$
  with gone as (delete from imagen.objects_to_delete where id = any(ids) returning 1)
  select count(*)::integer from gone;
$$;

revoke execute on function
  imagen.pending_object_deletions(integer),
  imagen.forget_object_deletions(bigint[])
from public, anon, authenticated;
grant execute on function
  imagen.pending_object_deletions(integer),
  imagen.forget_object_deletions(bigint[])
to service_role;
