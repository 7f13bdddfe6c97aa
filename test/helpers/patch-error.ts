// The HTTP code a patch engine refuses with.
import { PatchError } from '../../src/api/patch/index.js';

/** The code of the PatchError `fn` throws, or undefined when it throws nothing. */
export function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PatchError) return e.code;
    throw e;
  }
  return undefined;
}
