import { useEffect, useState } from 'preact/hooks';

/** Rows a long list draws at first, and how many more each "Show more" adds. */
const FIRST = 200;
const MORE = 1000;

/**
 * How many rows of a long list to draw: 10,000 pods stay fast when only the first 200 are. Back to
 * the first 200 whenever one of `resetOn` changes (another namespace, a new filter).
 */
export function useRowLimit(resetOn: unknown[]): [limit: number, more: () => void] {
  const [limit, setLimit] = useState(FIRST);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setLimit(FIRST), resetOn);
  return [limit, () => setLimit((l) => l + MORE)];
}

/** "Show more" under a list cut at `shown` of `total` rows; nothing when it is whole. */
export function ShowMore({ shown, total, onMore }: { shown: number; total: number; onMore: () => void }) {
  if (total <= shown) return null;
  return (
    <div class="actions">
      <button type="button" class="secondary" onClick={onMore}>Show more</button>
      <span class="muted">{shown} of {total} shown</span>
    </div>
  );
}
