-- Events expire a whole --event-ttl after they were last seen or written (src/store/event-seen.ts,
-- the same expression), as kube-apiserver counts from the last write: an Event posted with an old
-- lastTimestamp is kept from its creation.
DROP INDEX `objects_event_seen`;--> statement-breakpoint
CREATE INDEX `objects_event_seen` ON `objects` (MAX(COALESCE(json_extract(object, '$.lastTimestamp'), json_extract(object, '$.eventTime'), ''), json_extract(object, '$.metadata.creationTimestamp'))) WHERE kind = 'Event';
