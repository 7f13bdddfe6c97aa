// The Accept header as kube-apiserver negotiates it (goautoneg): media ranges with their
// parameters, most preferred first. The first range the server can serve wins.

export interface MediaRange {
  type: string;
  subtype: string;
  /** Parameters other than q, names in lower case (g, v, as, stream, ...). */
  params: Record<string, string>;
  q: number;
}

export function parseAccept(header: string | null | undefined): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const clause of (header || '*/*').split(',')) {
    const [mediaType, ...rest] = clause.split(';').map((s) => s.trim());
    if (!mediaType) continue;
    const slash = mediaType.indexOf('/');
    const type = (slash < 0 ? mediaType : mediaType.slice(0, slash)).toLowerCase();
    const subtype = (slash < 0 ? '*' : mediaType.slice(slash + 1)).toLowerCase();
    const params: Record<string, string> = {};
    let q = 1;
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) continue;
      const name = p.slice(0, eq).trim().toLowerCase();
      const value = p.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (name === 'q') q = Number(value) || 0;
      else params[name] = value;
    }
    ranges.push({ type, subtype, params, q });
  }
  // Higher q first; at equal q, a concrete type before a wildcard. Stable, so the client's order
  // decides the rest.
  const rank = (r: MediaRange) => (r.type === '*' ? 2 : r.subtype === '*' ? 1 : 0);
  return ranges.map((r, i) => ({ r, i })).sort((a, b) => b.r.q - a.r.q || rank(a.r) - rank(b.r) || a.i - b.i).map(({ r }) => r).filter((r) => r.q > 0);
}

/** Whether the range admits `type/subtype` (wildcards included). */
export function admits(range: MediaRange, type: string, subtype: string): boolean {
  return (range.type === '*' || range.type === type) && (range.subtype === '*' || range.subtype === subtype);
}
