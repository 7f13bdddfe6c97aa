export function Network() { return <p>Network</p>; }
