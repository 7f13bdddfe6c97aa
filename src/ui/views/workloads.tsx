export function Workloads() { return <p>Workloads</p>; }
