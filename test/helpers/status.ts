// What a failed @kubernetes/client-node call carried: the HTTP code and the metav1.Status body.
import { ApiException, type V1Status } from '@kubernetes/client-node';

/** The HTTP code and Status body of a call that must fail. */
export async function failure(call: Promise<unknown>): Promise<{ code: number; status: V1Status }> {
  try {
    await call;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    return { code: e.code, status: typeof e.body === 'string' ? JSON.parse(e.body) : e.body };
  }
  throw new Error('expected the call to fail');
}
