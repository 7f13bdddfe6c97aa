// The OpenAPI schemas of networking.k8s.io/v1 NetworkPolicy. Fields, required lists and list
// directives follow k8s.io/api's types (every list is +listType=atomic); descriptions are shortened.
import { atomicList, arr, int, intOrStr, kind, list, obj, ref, spec, str, strs, type Schema } from './dsl.js';

const selector = (d: string) => ref('meta.LabelSelector', d);

export function networkPolicySchemas(): Record<string, Schema> {
  const gv = 'networking.k8s.io/v1';
  return {
    'networking.NetworkPolicy': kind(gv, 'NetworkPolicy', 'What network traffic is allowed for a set of pods.', {
      spec: spec('networking.NetworkPolicySpec', 'NetworkPolicy'),
    }),
    'networking.NetworkPolicyList': list(gv, 'networking.NetworkPolicy'),
    'networking.NetworkPolicySpec': obj('The pods a NetworkPolicy selects and the traffic it allows them.', {
      egress: atomicList(arr(ref('networking.NetworkPolicyEgressRule'), 'Traffic the selected pods may send; empty: none (with Egress in policyTypes).')),
      ingress: atomicList(arr(ref('networking.NetworkPolicyIngressRule'), 'Traffic the selected pods may receive; empty: none.')),
      podSelector: selector("The pods the policy applies to, in its namespace; empty selects them all."),
      policyTypes: atomicList(strs('Ingress, Egress or both. Defaults to Ingress, plus Egress when there are egress rules.')),
    }),
    'networking.NetworkPolicyIngressRule': obj('Traffic allowed to the selected pods: it must match both ports and from.', {
      from: atomicList(arr(ref('networking.NetworkPolicyPeer'), 'Sources allowed; empty or missing: any source.')),
      ports: atomicList(arr(ref('networking.NetworkPolicyPort'), 'Ports allowed; empty or missing: any port.')),
    }),
    'networking.NetworkPolicyEgressRule': obj('Traffic allowed out of the selected pods: it must match both ports and to.', {
      ports: atomicList(arr(ref('networking.NetworkPolicyPort'), 'Destination ports allowed; empty or missing: any port.')),
      to: atomicList(arr(ref('networking.NetworkPolicyPeer'), 'Destinations allowed; empty or missing: any destination.')),
    }),
    'networking.NetworkPolicyPeer': obj('Pods (by pod and namespace selectors) or an IP block traffic may come from or go to.', {
      ipBlock: ref('networking.IPBlock', 'A CIDR (with exceptions); exclusive with the selectors.'),
      namespaceSelector: selector('Namespaces by label; empty selects all. With podSelector: those pods in these namespaces.'),
      podSelector: selector("Pods by label, in the policy's namespace unless namespaceSelector is set; empty selects all."),
    }),
    'networking.IPBlock': obj('A CIDR, minus the CIDRs in except.', {
      cidr: str('A CIDR such as "192.168.1.0/24" or "2001:db8::/64".'),
      except: atomicList(strs('CIDRs inside cidr that the block does not include.')),
    }, ['cidr']),
    'networking.NetworkPolicyPort': obj('A port (or range) and protocol traffic may use.', {
      endPort: int('Last port of a range starting at port (numeric port only); at least port.'),
      port: intOrStr('A port number or a named port of the pods; missing: every port.'),
      protocol: str('TCP, UDP or SCTP. Defaults to TCP.'),
    }),
  };
}
