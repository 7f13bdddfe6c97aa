import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Api, ApiFailure } from './api.js';
import { SessionContext, type Session } from './hooks.js';
import { Fleet } from './views/fleet.js';
import { Workloads } from './views/workloads.js';
import { Pods } from './views/pods.js';
import { PodDetail } from './views/pod-detail.js';
import { Network } from './views/network.js';
import { Events } from './views/events.js';

const TOKEN_KEY = 'skiff.token';
const NAMESPACE_KEY = 'skiff.namespace';

export const VIEWS = [
  { path: 'fleet', label: 'Fleet', key: '1' },
  { path: 'workloads', label: 'Workloads', key: '2' },
  { path: 'pods', label: 'Pods', key: '3' },
  { path: 'network', label: 'Network', key: '4' },
  { path: 'events', label: 'Events', key: '5' },
] as const;

/** The hash route: #/VIEW/ARG/ARG... (hash routes need nothing from the server and survive reloads). */
function useRoute(): string[] {
  const read = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

async function whoAmI(api: Api): Promise<string> {
  const review = await api.review('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  return review?.status?.userInfo?.username ?? 'unknown';
}

function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
}

function SignIn({ onSignedIn, notice }: { onSignedIn: (api: Api, user: string, remember: boolean) => void; notice?: string }) {
  const [token, setToken] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState(notice ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const api = new Api(token.trim());
    setBusy(true);
    setError('');
    try {
      onSignedIn(api, await whoAmI(api), remember);
    } catch (err) {
      setError(err instanceof ApiFailure && err.code === 401 ? 'The token was refused (401 Unauthorized).' : `Could not sign in: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">skiff</h1>
        <p class="muted">Sign in with a token: the admin token, a user's, or a ServiceAccount's.</p>
        <label for="token">Token</label>
        <input id="token" type="password" autocomplete="off" required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} autofocus />
        <label class="check">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember((e.target as HTMLInputElement).checked)} /> Remember on this device
        </label>
        <button type="submit" disabled={busy || !token.trim()}>{busy ? 'Signing in…' : 'Sign in'}</button>
        {error && <p role="alert" class="error">{error}</p>}
      </form>
    </main>
  );
}

function NamespacePicker({ api, value, onChange }: { api: Api; value: string; onChange: (ns: string) => void }) {
  const [names, setNames] = useState<string[] | null>(null);
  useEffect(() => {
    // One list, not a watch: namespaces change rarely and connections are scarce.
    api.get('/api/v1/namespaces').then((l) => setNames(l.items.map((n: any) => n.metadata.name).sort()), () => setNames(null));
  }, [api]);
  if (!names) {
    return (
      <input class="ns" aria-label="Namespace" placeholder="all namespaces" value={value}
        onChange={(e) => onChange((e.target as HTMLInputElement).value.trim())} />
    );
  }
  return (
    <select class="ns" aria-label="Namespace" value={value} onChange={(e) => onChange((e.target as HTMLSelectElement).value)}>
      <option value="">All namespaces</option>
      {(names.includes(value) || !value ? names : [value, ...names]).map((n) => <option value={n}>{n}</option>)}
    </select>
  );
}

function Shell({ session, setNamespace }: { session: Session; setNamespace: (ns: string) => void }) {
  const route = useRoute();
  const view = route[0] ?? 'fleet';
  useEffect(() => {
    // Keys 1-5 switch views and "/" finds the filter box, unless typing somewhere.
    const on = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.ctrlKey || e.metaKey || e.altKey || t.closest('input, textarea, select')) return;
      const v = VIEWS.find((x) => x.key === e.key);
      if (v) location.hash = `#/${v.path}`;
      else if (e.key === '/') {
        const filter = document.querySelector<HTMLInputElement>('input[type=search]');
        if (filter) {
          e.preventDefault();
          filter.focus();
        }
      }
    };
    addEventListener('keydown', on);
    return () => removeEventListener('keydown', on);
  }, []);
  let body;
  if (view === 'workloads') body = <Workloads />;
  else if (view === 'pods' && route.length >= 3) body = <PodDetail namespace={route[1]} name={route[2]} />;
  else if (view === 'pods') body = <Pods />;
  else if (view === 'network') body = <Network />;
  else if (view === 'events') body = <Events />;
  else body = <Fleet />;
  return (
    <SessionContext.Provider value={session}>
      <header class="top">
        <a class="brand" href="#/fleet">skiff</a>
        <nav aria-label="Views">
          {VIEWS.map((v) => (
            <a href={`#/${v.path}`} aria-current={v.path === view ? 'page' : undefined} title={`${v.label} (${v.key})`}>{v.label}</a>
          ))}
        </nav>
        <div class="who">
          <NamespacePicker api={session.api} value={session.namespace} onChange={setNamespace} />
          <span class="user" title="Signed in as">{session.user}</span>
          <button type="button" class="link" onClick={session.signOut}>Sign out</button>
        </div>
      </header>
      <main class="view">{body}</main>
    </SessionContext.Provider>
  );
}

function App() {
  const [session, setSession] = useState<{ api: Api; user: string } | null>(null);
  const [checking, setChecking] = useState(() => !!storedToken());
  const [notice, setNotice] = useState<string | undefined>();
  const [namespace, setNamespaceState] = useState(() => localStorage.getItem(NAMESPACE_KEY) ?? '');
  // A ServiceAccount usually may look at its own namespace alone: start there.
  const begin = (api: Api, user: string) => {
    const sa = /^system:serviceaccount:([^:]+):/.exec(user);
    if (sa && localStorage.getItem(NAMESPACE_KEY) === null) setNamespaceState(sa[1]);
    setSession({ api, user });
  };
  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    const api = new Api(token);
    whoAmI(api).then(
      (user) => begin(api, user),
      (err) => {
        if (err instanceof ApiFailure && err.code === 401) {
          sessionStorage.removeItem(TOKEN_KEY);
          localStorage.removeItem(TOKEN_KEY);
          setNotice('The saved token is no longer accepted; sign in again.');
        } else setNotice(`Could not reach the API: ${err.message}`);
      },
    ).finally(() => setChecking(false));
  }, []);
  if (checking) return <p class="loading">Connecting…</p>;
  if (!session) {
    return (
      <SignIn notice={notice} onSignedIn={(api, user, remember) => {
        (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, api.token);
        begin(api, user);
      }} />
    );
  }
  const setNamespace = (ns: string) => {
    localStorage.setItem(NAMESPACE_KEY, ns);
    setNamespaceState(ns);
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    setSession(null);
  };
  return <Shell session={{ ...session, namespace, signOut }} setNamespace={setNamespace} />;
}

render(<App />, document.getElementById('app')!);
