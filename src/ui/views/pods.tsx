export function Pods() { return <p>Pods</p>; }
