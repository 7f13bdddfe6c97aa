// A container's log, streamed as `kubectl logs -f --tail=500` streams it: GET pods/NAME/log with
// follow through the node's tunnel. Lines go straight into the <pre> (appended, not re-rendered), at
// most a few times a second, and only the last MAX_LINES are kept. Where the node can't be reached the
// API answers a Status (503 not connected, 400 not started yet...), shown instead of the log.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiFailure } from '../api.js';
import { sleep, type Obj } from '../collection.js';
import { useSession } from '../hooks.js';

const TAIL = 500;
const MAX_LINES = 5000;
/** Trimmed in chunks, so a chatty container does not rebuild the text on every line. */
const TRIM_AT = MAX_LINES + 500;
const FLUSH_MS = 100;
/** Dropped connections tried again before giving up (with a Reconnect button). */
const RETRIES = 4;

type StreamState =
  | { kind: 'connecting' }
  | { kind: 'reconnecting' }
  | { kind: 'streaming' }
  | { kind: 'ended' }
  | { kind: 'error'; message: string };

function statusOf(pod: Obj, name: string): any {
  const s = pod.status ?? {};
  return [...(s.containerStatuses ?? []), ...(s.initContainerStatuses ?? [])].find((c: any) => c?.name === name);
}

/** The container `kubectl logs` picks: the default-container annotation, else the first. */
function defaultContainer(pod: Obj): string {
  const names = (pod.spec?.containers ?? []).map((c: any) => c.name);
  const annotated = pod.metadata.annotations?.['kubectl.kubernetes.io/default-container'];
  return annotated && names.includes(annotated) ? annotated : names[0] ?? '';
}

export function PodLogs({ pod }: { pod: Obj }) {
  const { api } = useSession();
  const ns = pod.metadata.namespace ?? '';
  const name = pod.metadata.name;
  const init: string[] = (pod.spec?.initContainers ?? []).map((c: any) => c.name);
  const regular: string[] = (pod.spec?.containers ?? []).map((c: any) => c.name);
  const [container, setContainer] = useState(() => defaultContainer(pod));
  const [previous, setPrevious] = useState(false);
  const [paused, setPaused] = useState(false);
  const [follow, setFollow] = useState(true);
  const [state, setState] = useState<StreamState>({ kind: 'connecting' });
  const [lineCount, setLineCount] = useState(0);
  const [attempt, setAttempt] = useState(0);
  const pre = useRef<HTMLPreElement>(null);
  const buf = useRef({ lines: [] as string[], drawn: 0, rebuild: false });
  const pausedRef = useRef(paused);
  const followRef = useRef(follow);
  pausedRef.current = paused;
  followRef.current = follow;

  const status = statusOf(pod, container);
  const restarted = (status?.restartCount ?? 0) > 0 || !!status?.lastState?.terminated;
  // A new run of the container (restart, or a waiting one that started) opens a new stream; other
  // changes to the pod (its status is rewritten often) leave the current one alone.
  const run = `${pod.spec?.nodeName ?? ''}|${status?.containerID ?? ''}|${Object.keys(status?.state ?? {})[0] ?? ''}`;

  /** Puts what arrived since the last draw into the <pre>; the whole text only after a trim. */
  const draw = () => {
    const el = pre.current;
    const b = buf.current;
    if (!el || pausedRef.current) return;
    if (b.rebuild) {
      el.textContent = b.lines.length ? b.lines.join('\n') + '\n' : '';
      b.rebuild = false;
    } else if (b.drawn < b.lines.length) {
      el.appendChild(document.createTextNode(b.lines.slice(b.drawn).join('\n') + '\n'));
    }
    b.drawn = b.lines.length;
    setLineCount(b.lines.length);
    if (followRef.current) el.scrollTop = el.scrollHeight;
  };

  useEffect(() => {
    const abort = new AbortController();
    const signal = abort.signal;
    const b = buf.current;
    const q = new URLSearchParams({ container, tailLines: String(TAIL), timestamps: 'false' });
    if (previous) q.set('previous', 'true');
    else q.set('follow', 'true');
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log?${q}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onLine = (line: string) => {
      if (b.lines.length === 0 && !timer) setState({ kind: 'streaming' });
      b.lines.push(line);
      if (b.lines.length > TRIM_AT) {
        b.lines.splice(0, b.lines.length - MAX_LINES);
        b.rebuild = true;
      }
      timer ??= setTimeout(() => {
        timer = undefined;
        draw();
      }, FLUSH_MS);
    };
    void (async () => {
      for (let failures = 0; ; failures++) {
        // Each connection starts from the tail again, so the text is the log's, never a line twice.
        b.lines = [];
        b.drawn = 0;
        b.rebuild = true;
        draw();
        setState(failures ? { kind: 'reconnecting' } : { kind: 'connecting' });
        try {
          await api.stream(path, onLine, signal);
          if (signal.aborted) return;
          draw();
          setState({ kind: 'ended' });
          return;
        } catch (err) {
          if (signal.aborted) return;
          // The API's answer (not connected, not started, gone) is final until the pod changes; a
          // dropped connection is tried again a few times, as watches are.
          if (err instanceof ApiFailure || failures >= RETRIES) {
            draw();
            setState({ kind: 'error', message: err instanceof ApiFailure ? err.message : `The log stream failed: ${(err as Error).message}` });
            return;
          }
          if (b.lines.length) failures = 0;
          await sleep(500 * 2 ** failures, signal);
          if (signal.aborted) return;
        }
      }
    })();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [api, ns, name, container, previous, run, attempt]);

  // Scrolling up to read stops following; scrolling back to the end follows again.
  const onScroll = () => {
    const el = pre.current;
    if (!el) return;
    const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
    if (atEnd !== followRef.current) setFollow(atEnd);
  };

  const togglePause = () => {
    pausedRef.current = !paused;
    setPaused(!paused);
    if (paused) draw();
  };
  const toggleFollow = () => {
    followRef.current = !follow;
    setFollow(!follow);
    if (!follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  };

  const names = [...regular, ...init];
  return (
    <div class="pod-logs">
      <div class="toolbar">
        {names.length > 1 && (
          <select aria-label="Container" value={container} onChange={(e) => {
            setContainer((e.target as HTMLSelectElement).value);
            setPrevious(false);
          }}>
            {regular.map((c) => <option value={c}>{c}</option>)}
            {init.map((c) => <option value={c}>{c} (init)</option>)}
          </select>
        )}
        <button type="button" class="secondary" aria-pressed={paused} onClick={togglePause}>{paused ? 'Resume' : 'Pause'}</button>
        <button type="button" class="secondary" aria-pressed={follow} onClick={toggleFollow}>Follow</button>
        {(restarted || previous) && (
          <button type="button" class="secondary" aria-pressed={previous} onClick={() => setPrevious(!previous)}
            title="The log of the container's previous run (kubectl logs --previous)">Previous</button>
        )}
        <span class="muted pod-logs-state" aria-live="polite">
          {state.kind === 'connecting' ? 'Waiting for output…' : state.kind === 'reconnecting' ? 'Connection lost; reconnecting…'
            : state.kind === 'streaming' ? (previous ? 'Previous run' : paused ? 'Paused' : 'Streaming')
              : state.kind === 'ended' ? (previous ? 'End of the previous run' : 'Stream ended') : ''}
          {lineCount >= MAX_LINES ? ` · last ${MAX_LINES} lines` : ''}
        </span>
        {(state.kind === 'ended' || state.kind === 'error') && !previous && (
          <button type="button" class="link" onClick={() => setAttempt(attempt + 1)}>Reconnect</button>
        )}
      </div>
      {state.kind === 'error' && <p role="alert" class="error pod-logs-error">{state.message}</p>}
      <pre ref={pre} class="logs" data-testid="logs" tabIndex={0} aria-label={`Log of container ${container}`}
        hidden={state.kind === 'error' && lineCount === 0} onScroll={onScroll} />
      {state.kind === 'ended' && lineCount === 0 && <p class="muted">No output.</p>}
    </div>
  );
}
