// Matching what kubectl prints: table and describe lines whose columns are runs of spaces apart,
// and the second-precision timestamps objects carry.

type Cell = string | RegExp;

/** Literal cells matched as they are, patterns as given, with runs of spaces between them. */
function cellsSource(cells: Cell[]): string {
  return cells.map((c) => (typeof c === 'string' ? c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : c.source)).join('\\s+');
}

/** A table line whose cells, separated by runs of spaces, match `cells` in order. */
export function row(...cells: Cell[]): RegExp {
  return new RegExp(`^${cellsSource(cells)}\\s*$`, 'm');
}

/** The same, for a line that may be indented (kubectl describe's sections). */
export function indentedRow(...cells: Cell[]): RegExp {
  return new RegExp(`^\\s*${cellsSource(cells)}\\s*$`, 'm');
}

/** Pods a Deployment's ReplicaSet has made, once a deployment controller runs: no fixed count. */
export const UP_TO_DATE = /\d+/;

/** Now, to the second, as a metav1.Time prints. */
export const nowSeconds = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
