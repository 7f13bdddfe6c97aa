/**
 * When an Event was last seen or written, in SQL over `objects`: what the expiry index (schema.ts)
 * and query (store.ts) share. kube-apiserver counts --event-ttl from the last write, so an Event
 * posted with an old lastTimestamp still lives a whole TTL from its creation.
 */
export const EVENT_SEEN = `MAX(COALESCE(json_extract(object, '$.lastTimestamp'), json_extract(object, '$.eventTime'), ''), json_extract(object, '$.metadata.creationTimestamp'))`;
