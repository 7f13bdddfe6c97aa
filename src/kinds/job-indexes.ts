// Sets of completion indexes of an Indexed Job in the compressed text Kubernetes writes in
// status.completedIndexes, status.failedIndexes and successPolicy rules ("1,3-5,7"), as ordered
// intervals (pkg/controller/job/indexed_job_utils.go, pkg/apis/batch/validation).

export interface Interval {
  first: number;
  last: number;
}

/** Disjoint, increasing, non-adjacent intervals. */
export type Intervals = Interval[];

/**
 * The intervals a text names, below `completions` (parseIndexesFromString): fragments that do not
 * parse are skipped, an interval reaching past the last index is cut, adjacent ones are merged.
 */
export function parseIndexes(text: string | undefined | null, completions: number): Intervals {
  if (!text) return [];
  const out: Intervals = [];
  for (const fragment of text.split(',')) {
    const limits = fragment.split('-');
    const first = Number.parseInt(limits[0], 10);
    if (!/^\d+$/.test(limits[0]) || Number.isNaN(first)) continue;
    if (first >= completions) break;
    let last = first;
    if (limits.length > 1) {
      if (!/^\d+$/.test(limits[1])) continue;
      last = Math.min(Number.parseInt(limits[1], 10), completions - 1);
    }
    const prev = out[out.length - 1];
    if (prev && prev.last === first - 1) prev.last = last;
    else out.push({ first, last });
  }
  return out;
}

/** The text of intervals: "0-2,4", with two adjacent indexes written "5,6" as Kubernetes does. */
export function formatIndexes(intervals: Intervals): string {
  return intervals
    .map(({ first, last }) => (last === first ? `${first}` : last === first + 1 ? `${first},${last}` : `${first}-${last}`))
    .join(',');
}

/** How many indexes the intervals hold. */
export function indexCount(intervals: Intervals): number {
  return intervals.reduce((n, { first, last }) => n + last - first + 1, 0);
}

export function hasIndex(intervals: Intervals, ix: number): boolean {
  let lo = 0;
  let hi = intervals.length;
  while (hi > lo) {
    const mid = lo + ((hi - lo) >> 1);
    if (intervals[mid].last >= ix) hi = mid;
    else lo = mid + 1;
  }
  return hi < intervals.length && intervals[hi].first <= ix;
}

/** The union of two interval lists. */
export function mergeIntervals(a: Intervals, b: Intervals): Intervals {
  const all = [...a, ...b].sort((x, y) => x.first - y.first);
  const out: Intervals = [];
  for (const iv of all) {
    const prev = out[out.length - 1];
    if (!prev || iv.first > prev.last + 1) out.push({ ...iv });
    else if (iv.last > prev.last) prev.last = iv.last;
  }
  return out;
}

/** The intervals with some single indexes added. */
export function withIndexes(intervals: Intervals, indexes: Iterable<number>): Intervals {
  return mergeIntervals(intervals, [...new Set(indexes)].map((i) => ({ first: i, last: i })));
}

/**
 * Up to `count` indexes below `completions` that none of `taken` holds, lowest first
 * (firstPendingIndexes).
 */
export function firstPendingIndexes(taken: Intervals, count: number, completions: number): number[] {
  const out: number[] = [];
  let candidate = 0;
  for (const iv of taken) {
    for (; candidate < completions && out.length < count && candidate < iv.first; candidate++) out.push(candidate);
    if (candidate < iv.last + 1) candidate = iv.last + 1;
  }
  for (; candidate < completions && out.length < count; candidate++) out.push(candidate);
  return out;
}

/**
 * Checks the text as the API does (validateIndexesFormat): strictly increasing intervals of
 * integers below `completions`. Answers how many indexes it holds, or the error message.
 */
export function validateIndexesFormat(text: string, completions: number): { total: number } | { error: string } {
  if (!text) return { total: 0 };
  let lastIndex: number | undefined;
  let total = 0;
  for (const fragment of text.split(',')) {
    const limits = fragment.split('-');
    if (limits.length > 2) return { error: `the fragment ${JSON.stringify(fragment)} violates the requirement that an index interval can have at most two parts separated by '-'` };
    const parse = (s: string) => (/^[+-]?\d+$/.test(s) ? Number.parseInt(s, 10) : undefined);
    const x = parse(limits[0]);
    if (x === undefined) return { error: `cannot convert string to integer for index: ${JSON.stringify(limits[0])}` };
    if (x >= completions) return { error: `too large index: ${JSON.stringify(limits[0])}` };
    let y = x;
    if (limits.length > 1) {
      const parsed = parse(limits[1]);
      if (parsed === undefined) return { error: `cannot convert string to integer for index: ${JSON.stringify(limits[1])}` };
      if (parsed >= completions) return { error: `too large index: ${JSON.stringify(limits[1])}` };
      if (x >= parsed) return { error: `non-increasing order, previous: ${x}, current: ${parsed}` };
      y = parsed;
    }
    if (lastIndex !== undefined && lastIndex >= x) return { error: `non-increasing order, previous: ${lastIndex}, current: ${x}` };
    total += y - x + 1;
    lastIndex = y;
  }
  return { total };
}
