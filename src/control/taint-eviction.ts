import { toleratesTaint, type Taint, type Toleration } from './scheduling.js';

// When a pod must leave a node with NoExecute taints (kube-controller-manager's taint-eviction
// controller), twice: in JS, which decides, and in SQL, which finds the few pods due among many
// without reading them (test/control/taint-eviction.test.ts checks that the two agree).

/** When a pod on a node with these taints must go, in ms since the epoch: now (0), at a time, or never (undefined). */
export function evictionTime(tolerations: Toleration[], taints: Taint[]): number | undefined {
  let at: number | undefined;
  for (const taint of taints.filter((t) => t.effect === 'NoExecute')) {
    const matching = tolerations.filter((t) => toleratesTaint(t, taint));
    if (matching.length === 0) return 0;
    // A toleration without tolerationSeconds (or with null) tolerates the taint forever.
    const seconds = matching.map((t) => t.tolerationSeconds).filter((s): s is number => typeof s === 'number');
    if (seconds.length === matching.length) {
      const added = Date.parse(taint.timeAdded ?? '') || 0;
      const t = added + Math.max(0, Math.min(...seconds)) * 1000;
      at = at === undefined ? t : Math.min(at, t);
    }
  }
  return at;
}

/** toleratesTaint over json_each rows `tol` (a pod's toleration) and `t` (a node's taint). */
const TOLERATES = `COALESCE(tol.value ->> 'effect', '') IN ('', t.value ->> 'effect')
  AND COALESCE(tol.value ->> 'key', '') IN ('', t.value ->> 'key')
  AND CASE COALESCE(tol.value ->> 'operator', '')
    WHEN 'Exists' THEN 1
    WHEN '' THEN COALESCE(tol.value ->> 'value', '') = COALESCE(t.value ->> 'value', '')
    WHEN 'Equal' THEN COALESCE(tol.value ->> 'value', '') = COALESCE(t.value ->> 'value', '')
    ELSE 0 END`;

/**
 * evictionTime in SQL, in whole seconds since the epoch (NULL: never), over SQL expressions for a
 * node's taints and a pod's tolerations (JSON arrays, or NULL for none).
 */
export function evictionSecondsSql(taints: string, tolerations: string): string {
  return `(SELECT MIN(CASE WHEN m.matching = 0 THEN 0 WHEN m.timed = m.matching THEN COALESCE(unixepoch(m.added), 0) + MAX(0, m.seconds) END)
    FROM (SELECT t.value ->> 'timeAdded' AS added, COUNT(tol.key) AS matching,
            COUNT(tol.value ->> 'tolerationSeconds') AS timed, MIN(tol.value ->> 'tolerationSeconds') AS seconds
          FROM json_each(${taints}) t
          LEFT JOIN json_each(${tolerations}) tol ON ${TOLERATES}
          WHERE t.value ->> 'effect' = 'NoExecute'
          GROUP BY t.key) m)`;
}
