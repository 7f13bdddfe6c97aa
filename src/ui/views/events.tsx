export function Events() { return <p>Events</p>; }
