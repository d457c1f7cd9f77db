-- Per-step progress and previews go out on a private Broadcast topic per series,
-- 'series:<series uuid>', which only the series' owner may receive. Realtime checks a join by
-- selecting from realtime.messages as the user with realtime.topic() set to the topic; this
-- policy lets that select through for the owner of the series the topic names, and for nobody
-- else. The topic is compared as text (the series id written out in lower case, as uuid::text
-- writes it): a topic that is not a series id simply matches nothing, never raises. Nobody gets
-- an INSERT policy: only the worker (service role, which bypasses RLS) sends on these topics.

create policy "series broadcast: owners receive their series" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.extension = 'broadcast'
    and (select realtime.topic()) like 'series:%'
    and exists (
      select from imagen.series s
      where s.id::text = substr((select realtime.topic()), length('series:') + 1)
        and s.owner_id = (select auth.uid())
    )
  );
