-- The cap on a user's unfinished tries gets a SQLSTATE of its own, PT429: PostgREST answers a
-- PTnnn error with HTTP status nnn (mapSQLtoHTTP in src/PostgREST/Error.hs), so a client sees
-- 429 Too Many Requests, "wait", instead of the 400 of P0001, "you asked for something wrong".
-- The edge function adds Retry-After; the web app and the CLI recognise the code. DETAIL carries
-- the numbers as JSON, for clients to say them in their own words.
create or replace function imagen.jobs_enforce_unfinished_cap() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  _owner uuid;
  _unfinished integer;
  _asked integer;
  _limit integer;
begin
  -- The cap protects the queue from users; the worker requeueing a try is not a new request.
  if imagen_private.caller_is_service() then
    return null;
  end if;
  -- One owner at a time, under a per-owner lock held to the end of the transaction: a concurrent
  -- request of the same owner waits, then (read committed) counts the tries this one committed.
  for _owner in select distinct c.owner_id from changed c where c.status = 'queued' order by 1 loop
    perform pg_advisory_xact_lock(hashtextextended('imagen.unfinished_tries:' || _owner::text, 0));
    _limit := imagen_private.max_unfinished_tries(_owner);
    select count(*) into _unfinished
    from imagen.jobs j
    where j.owner_id = _owner and j.status in ('queued', 'running');
    if _unfinished > _limit then
      select count(*) into _asked from changed c where c.owner_id = _owner and c.status = 'queued';
      raise exception 'too many unfinished tries: you have % queued or running and asked for % more, the limit is %',
        _unfinished - _asked, _asked, _limit
        using errcode = 'PT429',
              detail = json_build_object('unfinished', _unfinished - _asked, 'asked', _asked, 'limit', _limit)::text,
              hint = 'wait for some tries to finish or cancel some, then try again';
    end if;
  end loop;
  return null;
end;
$$;
