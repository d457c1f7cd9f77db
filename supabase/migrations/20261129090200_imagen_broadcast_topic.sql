-- The series Broadcast read policy checked the topic Realtime was asked about (realtime.topic())
-- but never that the row read is a message of that topic. Realtime's own check inserts the row
-- with that topic, so joins are unchanged; a select of realtime.messages by any other path now
-- sees only the rows of the topic it names.
alter policy "series broadcast: owners receive their series" on realtime.messages
  using (
    realtime.messages.extension = 'broadcast'
    and realtime.messages.topic = (select realtime.topic())
    and (select realtime.topic()) like 'series:%'
    and exists (
      select from imagen.series s
      where s.id::text = substr((select realtime.topic()), length('series:') + 1)
        and s.owner_id = (select auth.uid())
    )
  );
