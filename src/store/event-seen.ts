/** When an Event was last seen, in SQL over `objects`: what the expiry index (schema.ts) and query (store.ts) share. */
export const EVENT_SEEN = `COALESCE(json_extract(object, '$.lastTimestamp'), json_extract(object, '$.eventTime'), json_extract(object, '$.metadata.creationTimestamp'))`;
