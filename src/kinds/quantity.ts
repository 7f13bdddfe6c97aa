// Kubernetes resource quantities ("100m", "1Gi", "2", "1e3", "1.5") as numbers.
// Grammar (k8s.io/apimachinery resource.Quantity):
//   <signedNumber><suffix>, suffix one of the binary SI (Ki Mi Gi Ti Pi Ei),
//   decimal SI (n u m "" k M G T P E) or a decimal exponent (e3, E-2).

export const QUANTITY_FORMAT_ERROR =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/;

const DECIMAL_EXPONENT: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_POWER: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };

/** Mantissa and scale of a quantity, or undefined when it is malformed. */
function split(q: unknown): { mantissa: string; exp10: number; pow1024: number } | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? { mantissa: String(q), exp10: 0, pow1024: 0 } : undefined;
  if (typeof q !== 'string') return undefined;
  const m = QUANTITY.exec(q.trim());
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  if (suffix in BINARY_POWER) return { mantissa: m[1], exp10: 0, pow1024: BINARY_POWER[suffix] };
  if (suffix in DECIMAL_EXPONENT) return { mantissa: m[1], exp10: DECIMAL_EXPONENT[suffix], pow1024: 0 };
  return { mantissa: m[1], exp10: suffix ? Number(suffix.slice(1)) : 0, pow1024: 0 };
}

/** Shifting the decimal exponent in the string keeps "100m" exactly 0.1 and "100m" in millis exactly 100. */
function scaled(parts: { mantissa: string; exp10: number; pow1024: number }, extraExp10: number): number {
  return Number(`${parts.mantissa}e${parts.exp10 + extraExp10}`) * 1024 ** parts.pow1024;
}

export function isQuantity(q: unknown): boolean {
  return split(q) !== undefined;
}

/** The quantity's value ("100m" -> 0.1, "1Ki" -> 1024), or undefined when malformed. */
export function parseQuantity(q: unknown): number | undefined {
  const parts = split(q);
  return parts && scaled(parts, 0);
}

/** The value in thousandths, rounded up as Quantity.MilliValue does ("100m" -> 100, "1" -> 1000). */
export function milliValue(q: unknown): number | undefined {
  const parts = split(q);
  return parts && Math.ceil(scaled(parts, 3));
}

/** The value rounded up to a whole number, as Quantity.Value does (memory in bytes). */
export function wholeValue(q: unknown): number | undefined {
  const parts = split(q);
  return parts && Math.ceil(scaled(parts, 0));
}
