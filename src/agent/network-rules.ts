// Everything the agent adds to the host for its node's pod network besides the bridge: the Service
// proxy's, NetworkPolicy's and the cross-node paths' rules, removed together with the pod network.
import { removeCrossNodeRules } from './cross-node-rules.js';
import { removeNetworkPolicyRules } from './network-policy-iptables.js';
import { removeServiceRules } from './service-proxy.js';

export async function removeAgentNetworkRules(bridge: string, podCIDR: string): Promise<void> {
  await removeServiceRules(bridge);
  await removeNetworkPolicyRules(bridge);
  await removeCrossNodeRules(bridge, podCIDR);
}
