// The agent's NetworkPolicy enforcer, as a CNI plugin's policy agent does it: it watches every
// NetworkPolicy, Pod (labels, address, node) and Namespace (labels) of the cluster, and keeps this
// node's iptables rules (network-policy-iptables.ts) saying what the policies allow its pods. Its view
// also answers the relay's question (network-policy.ts allowsRelayed). While the control plane is
// unreachable the rules stay as they were; an agent restarted rewrites its own chains once it has
// listed everything again, and until then the old rules hold.
import { bridgeFor } from './agent.js';
import type { ApiClient, WatchEvent } from './client.js';
import type { ClusterCatalog } from './cluster-catalog.js';
import type { Runtime } from './runtime.js';
import {
  computePodRules, policyObject, registerPolicyState, type PolicyObject, type PolicyState,
} from './network-policy.js';
import { iptablesUsable, PolicyIptables } from './network-policy-iptables.js';

export interface NetworkPolicyAgentOptions {
  client: ApiClient;
  /** The agent's watch cache: its cluster-wide pods (shared with the relayed path). */
  catalog: ClusterCatalog;
  nodeName: string;
  runtime: Runtime;
  /** The node's podCIDR (its bridge is named after it). */
  podCIDR: () => Promise<string | undefined>;
  log: (line: string) => void;
  /** Between full rewrites of the rules (a repair of what others changed); default 30 s. */
  resyncMs?: number;
}

export interface NetworkPolicyAgent {
  /** The current view, once policies, pods and namespaces have all been listed. */
  state(): PolicyState | undefined;
  /** Stops watching; the rules stay (the pods keep running, as when kubelet stops). */
  stop(): Promise<void>;
}

const HOOK_CHECK_MS = 5_000;

const key = (o: any) => `${o?.metadata?.namespace ?? ''}/${o?.metadata?.name ?? ''}`;

export function startNetworkPolicyAgent(opts: NetworkPolicyAgentOptions): NetworkPolicyAgent {
  const { client, catalog, nodeName, log } = opts;
  const abort = new AbortController();
  const policies = new Map<string, PolicyObject>();
  const namespaces = new Map<string, Record<string, string>>();
  const listed = { policies: false, namespaces: false };
  let view: PolicyState | undefined;
  const current = (): PolicyState | undefined => {
    if (!listed.policies || !catalog.podsListed() || !listed.namespaces) return undefined;
    view ??= { policies: [...policies.values()], pods: [...catalog.pods()], namespaces: new Map(namespaces) };
    return view;
  };
  const unregister = registerPolicyState(current);

  let enforcer: PolicyIptables | undefined;
  let syncing: Promise<void> = Promise.resolve();
  let pending = false;
  let lastError = '';

  const sync = (force = false): Promise<void> => {
    if (pending && !force) return syncing;
    pending = true;
    syncing = syncing.then(async () => {
      pending = false;
      const state = current();
      if (!state || !enforcer) return;
      try {
        await enforcer.apply(computePodRules(state, (p) => p.nodeName === nodeName), force);
        if (lastError) log('NetworkPolicy rules written again');
        lastError = '';
      } catch (err) {
        const message = (err as Error).message;
        if (message !== lastError) log(`NetworkPolicy rules not written: ${message}`);
        lastError = message;
      }
    });
    return syncing;
  };

  const changed = () => {
    view = undefined;
    void sync();
  };

  const failing = new Set<string>();
  function watch<T>(path: string, flag: keyof typeof listed, onSync: (items: any[]) => void, onEvent: (e: WatchEvent<any>) => void): Promise<void> {
    return client
      .listWatch<T>(path, {
        onSync: (items) => {
          failing.delete(path);
          onSync(items);
          listed[flag] = true;
          changed();
        },
        onEvent: (e) => {
          failing.delete(path);
          onEvent(e);
          changed();
        },
        // Once per outage, not at every retry.
        onError: (err) => {
          if (failing.has(path)) return;
          failing.add(path);
          log(`watching ${path} for NetworkPolicy: ${err.message}`);
        },
      }, { signal: abort.signal })
      .catch((err) => log(`watching ${path} for NetworkPolicy stopped: ${(err as Error).message}`));
  }

  const loops = [
    watch('/apis/networking.k8s.io/v1/networkpolicies', 'policies',
      (items) => {
        policies.clear();
        for (const o of items) policies.set(key(o), policyObject(o));
      },
      (e) => (e.type === 'DELETED' ? policies.delete(key(e.object)) : policies.set(key(e.object), policyObject(e.object)))),
    watch('/api/v1/namespaces', 'namespaces',
      (items) => {
        namespaces.clear();
        for (const o of items) namespaces.set(o.metadata?.name, o.metadata?.labels ?? {});
      },
      (e) => (e.type === 'DELETED' ? namespaces.delete(e.object?.metadata?.name) : namespaces.set(e.object?.metadata?.name, e.object?.metadata?.labels ?? {}))),
  ];

  catalog.watchPods();
  const unsubscribePods = catalog.onPodsChange(changed);

  // The packet filter, where the agent may use one; without it only relayed connections are judged.
  const ready = (async () => {
    const podCIDR = await opts.podCIDR().catch(() => undefined);
    if (!podCIDR || podCIDR.includes(':')) return log('NetworkPolicy: no IPv4 podCIDR, so only relayed connections are checked');
    if (!(await iptablesUsable())) return log('NetworkPolicy: iptables is not usable here (root and iptables needed), so only relayed connections are checked');
    const gateway = await opts.runtime.podGateway?.().catch(() => undefined);
    if (abort.signal.aborted) return;
    enforcer = new PolicyIptables(bridgeFor(podCIDR), gateway, log);
    await sync();
  })();
  const timer = setInterval(() => void sync(true), opts.resyncMs ?? 30_000);
  timer.unref();
  // Rules others insert at the top of FORWARD (an ACCEPT for their traffic) would pass ours by.
  const hookTimer = setInterval(() => {
    syncing = syncing.then(() => enforcer?.checkHook()).catch(() => undefined);
  }, HOOK_CHECK_MS);
  hookTimer.unref();

  return {
    state: current,
    async stop() {
      clearInterval(timer);
      clearInterval(hookTimer);
      abort.abort();
      unsubscribePods();
      unregister();
      await Promise.all(loops);
      await ready;
      await syncing;
    },
  };
}
