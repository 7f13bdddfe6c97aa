// A digest of a set of pods: the sum, modulo 2^52, of a 41-bit number read from each pod's uid.
// Lists with equal counts and digests hold, but for a collision (about 1 in 2^41), the same pods.
// The numbers are kept in the summaries of pods, Endpoints and EndpointSlices, so that the
// endpoints controller compares what a Service selects with what its objects list by sums in SQL.

const HEX = '0123456789abcdef';
/** Ten of a uid's hex digits (1-based; the dash at 9 skipped), read in base 17 (a non-hex character is 0). */
const POSITIONS = [1, 2, 3, 4, 5, 6, 7, 8, 10, 11];

export const DIGEST_MODULUS = 2 ** 52;

export function uidNumber(uid: string): number {
  let n = 0;
  for (const pos of POSITIONS) n = n * 17 + HEX.indexOf(uid.charAt(pos - 1)) + 1;
  return n;
}

/** The digest of the uids given (those undefined count for nothing). */
export function digestOf(uids: (string | undefined)[]): number {
  let sum = 0;
  for (const uid of uids) if (typeof uid === 'string') sum = (sum + uidNumber(uid)) % DIGEST_MODULUS;
  return sum;
}
