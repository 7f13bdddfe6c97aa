export function PodDetail(_: { namespace: string; name: string }) { return <p>pod</p>; }
