-- When each Event was last seen (src/store/event-seen.ts, the same expression): the pass drops
-- expired Events by a range of this index instead of parsing every Event's JSON.
CREATE INDEX `objects_event_seen` ON `objects` (COALESCE(json_extract(object, '$.lastTimestamp'), json_extract(object, '$.eventTime'), json_extract(object, '$.metadata.creationTimestamp'))) WHERE kind = 'Event';
