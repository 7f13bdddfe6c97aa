// What the control plane asks of a node over the tunnel (the OPEN frame's JSON), and the node's answer.
// These are kubelet's streaming and proxy endpoints, named by what they do.

/**
 * How an upgraded stream's messages are framed. `websocket`: each message is one WebSocket message of
 * kubectl's (channel-prefixed for exec and attach). `spdy`: the messages are the bytes of a SPDY/3.1
 * connection (kubectl's SPDY upgrade, or port-forward's SPDY tunnelled in a WebSocket), to be parsed
 * by the node.
 */
export type StreamTransport = 'websocket' | 'spdy';

/** The pod a request is for, as the control plane found it. */
export interface PodRef {
  namespace: string;
  pod: string;
  uid: string;
}

export interface LogsHead extends PodRef {
  op: 'logs';
  container: string;
  follow?: boolean;
  previous?: boolean;
  /** Lines from the end. */
  tailLines?: number;
  /** RFC 3339; sinceSeconds is turned into this by the control plane, whose clock is the reference. */
  sinceTime?: string;
  timestamps?: boolean;
  limitBytes?: number;
}

export interface ExecHead extends PodRef {
  op: 'exec' | 'attach';
  container: string;
  /** exec only. */
  command?: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  transport: StreamTransport;
  /** The negotiated stream protocol: v5.channel.k8s.io, v4.channel.k8s.io, ... */
  protocol: string;
}

export interface PortForwardHead extends PodRef {
  op: 'portforward';
  /** The ports of the request's ?ports=; SPDY streams name theirs in their headers. */
  ports: number[];
  /** The pod's IP as the control plane knows it (the node dials the pod's ports there). */
  podIP?: string;
  transport: StreamTransport;
  /** portforward.k8s.io (SPDY) or SPDY/3.1+portforward.k8s.io (tunnelled in a WebSocket). */
  protocol: string;
}

/** An HTTP request to a pod's port (pods/proxy, Service proxy, Ingress) or to the node itself (nodes/proxy). */
export interface HttpHead {
  op: 'http';
  /** The pod's, when the target is a pod; absent: the node's own endpoints. */
  pod?: PodRef;
  scheme: 'http' | 'https';
  /** The pod's IP (or the node's) and port, as the control plane located it. */
  host: string;
  method: string;
  /** Path and query, still encoded. */
  path: string;
  headers: [string, string][];
}

/**
 * A pod on another node connecting to this pod's IP and port through the control plane (the relayed
 * path between nodes that cannot reach each other). Once answered 101, each message is bytes of the
 * TCP connection, and an empty message ends its sender's direction (a half-close); the stream ends
 * when the connection has closed both ways.
 */
export interface RelayHead extends PodRef {
  op: 'relay';
  podIP: string;
  port: number;
  /** The node the connection comes from (as authenticated) and its pod's address (as that node saw it). */
  fromNode: string;
  source?: string;
  transport: 'websocket';
  /** The WebSocket subprotocol of the relaying node's connection (RELAY_PROTOCOL). */
  protocol: string;
}

/** The node's and its pods' current usage (kubelet's /metrics/resource, summarized). */
export interface StatsHead {
  op: 'stats';
}

export type TunnelHead = LogsHead | ExecHead | PortForwardHead | HttpHead | StatsHead | RelayHead;

/** An HTTP response head; 101 for an upgraded stream that the node accepted. */
export interface TunnelReply {
  status: number;
  headers?: [string, string][];
}

/** The answer to `stats`. CPU in nanocores averaged over the window, memory as the working set in bytes. */
export interface NodeStats {
  /** RFC 3339, when the usage was sampled. */
  timestamp: string;
  windowSeconds: number;
  node: { cpuNanoCores: number; memoryBytes: number };
  pods: {
    namespace: string;
    name: string;
    uid: string;
    containers: { name: string; cpuNanoCores: number; memoryBytes: number }[];
  }[];
}
