// Query parameters as kube-apiserver reads them.
//
// Booleans: kube-apiserver decodes query parameters into its option structs (ListOptions,
// PatchOptions, PodLogOptions, PodExecOptions, ...) with apimachinery's Convert_Slice_string_To_bool,
// not strconv.ParseBool: only "0" and "false" in any case are false, anything else, "" and "f"
// included, is true, and nothing is refused. Reading them the same way keeps every client that works
// against kube-apiserver working here: Python's client sends `watch=True`, others `watch=1`.

/** The value a boolean query parameter stands for; absent: false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  return queryOptionalBool(q, name) ?? false;
}

/** As queryBool, but undefined when absent (the *bool fields: sendInitialEvents, force, orphanDependents). */
export function queryOptionalBool(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  return v !== '0' && v.toLowerCase() !== 'false';
}

