// The OpenAPI schemas of every type skiff serves, written in a tiny DSL so the
// data stays small in the Worker bundle. Names, fields, list semantics and
// patch directives follow Kubernetes' own OpenAPI (v3 shape); descriptions are
// shortened to one line. kubectl reads these for `explain`, for the
// fieldValidation check of `apply`/`create`, and for strategic-merge-patch keys.

import {
  API_VERSION, KIND, arr, bool, bytes, free, gvk, int, int64, intOrStr, keyed, kind, list, map, obj, quantities, ref,
  schemaName, spec, status, str, strMap, strs, time, type Schema,
} from './dsl.js';
import { workloadSchemas } from './workload-schemas.js';
import { networkPolicySchemas } from './networkpolicy-schemas.js';

export { REF_PREFIX, schemaName, type Schema } from './dsl.js';

// ---- meta/v1 and friends ----

function metaSchemas(): Record<string, Schema> {
  return {
    'resource.Quantity': {
      description: "A fixed-point number such as '100m', '1.5Gi' or '2'.",
      oneOf: [{ type: 'string' }, { type: 'number' }],
    },
    'intstr.IntOrString': {
      description: 'An int32 or a string.',
      format: 'int-or-string',
      oneOf: [{ type: 'integer' }, { type: 'string' }],
    },
    'runtime.RawExtension': free('An embedded object in any serialization.'),
    'meta.Time': { description: 'A time in RFC 3339 form, to the second.', type: 'string', format: 'date-time' },
    'meta.MicroTime': { description: 'A time in RFC 3339 form with microseconds.', type: 'string', format: 'date-time' },
    'meta.FieldsV1': free('The set of fields a manager owns, in the FieldsV1 trie format.'),
    'meta.Patch': { description: 'The body of a PATCH request (JSON patch, merge patch, strategic merge patch or apply).', type: 'object' },
    'meta.ObjectMeta': obj('Metadata that all persisted resources must have.', {
      annotations: strMap('Unstructured key/value data set by external tools, not queryable.'),
      creationTimestamp: time('When this object was created. Set by the server; read-only.'),
      deletionGracePeriodSeconds: int64('Seconds allowed for graceful termination before removal. Read-only.'),
      deletionTimestamp: time('When this object will be deleted (set when deletion is requested). Read-only.'),
      finalizers: {
        ...strs('Must be empty before the object is deleted from the registry.'),
        'x-kubernetes-list-type': 'set',
        'x-kubernetes-patch-strategy': 'merge',
      },
      generateName: str('Prefix the server uses to generate a unique name when name is not given.'),
      generation: int64('A sequence number for a specific generation of the desired state. Read-only.'),
      labels: strMap('Key/value pairs used to organize and select objects.'),
      managedFields: arr(ref('meta.ManagedFieldsEntry'), 'Which managers own which fields (server-side apply).'),
      name: str('Name, unique within a namespace. Cannot be updated.'),
      namespace: str('The namespace the object lives in; empty for cluster-scoped objects.'),
      ownerReferences: keyed(ref('meta.OwnerReference'), ['uid'], 'Objects this object depends on; it is garbage collected when they are all gone.'),
      resourceVersion: str('Opaque version of this object, for optimistic concurrency and watches. Read-only.'),
      selfLink: str('Deprecated, not set.'),
      uid: str('Unique id of this object in time and space. Read-only.'),
    }),
    'meta.ListMeta': obj('Metadata of a list.', {
      continue: str('Token for the next chunk of a limited list.'),
      remainingItemCount: int64('Number of items not yet returned by a limited list.'),
      resourceVersion: str('Version of the list, to start a watch from.'),
      selfLink: str('Deprecated, not set.'),
    }),
    'meta.OwnerReference': {
      ...obj('Identifies an owning object.', {
        apiVersion: str('API version of the owner.'),
        blockOwnerDeletion: bool('If true, the owner cannot be deleted (foreground) before this reference is removed.'),
        controller: bool('If true, this reference points to the managing controller.'),
        kind: str('Kind of the owner.'),
        name: str('Name of the owner.'),
        uid: str('UID of the owner.'),
      }, ['apiVersion', 'kind', 'name', 'uid']),
      'x-kubernetes-map-type': 'atomic',
    },
    'meta.ManagedFieldsEntry': obj('The fields one manager owns, and how it last changed them.', {
      apiVersion: str('Version of the resource the fields are for.'),
      fieldsType: str("Format of fieldsV1: only 'FieldsV1'."),
      fieldsV1: ref('meta.FieldsV1', 'The owned fields.'),
      manager: str('Identifier of the workflow managing these fields.'),
      operation: str("'Apply' or 'Update'."),
      subresource: str('The subresource the fields were written through, if any.'),
      time: time('When the fields were last changed.'),
    }),
    'meta.LabelSelector': {
      ...obj('A label query over a set of resources; the requirements are ANDed. Empty matches everything.', {
        matchExpressions: arr(ref('meta.LabelSelectorRequirement'), 'Label selector requirements, ANDed.'),
        matchLabels: strMap('Labels that must all match (each is a matchExpressions entry with operator In).'),
      }),
      'x-kubernetes-map-type': 'atomic',
    },
    'meta.LabelSelectorRequirement': obj('A selector requirement: a key, an operator and values.', {
      key: str('The label key.'),
      operator: str('In, NotIn, Exists or DoesNotExist.'),
      values: strs('Values for In and NotIn; empty for Exists and DoesNotExist.'),
    }, ['key', 'operator']),
    'meta.Condition': obj('One aspect of the current state of a resource.', {
      lastTransitionTime: time('When the condition last changed status.'),
      message: str('Human-readable details of the transition.'),
      observedGeneration: int64('The .metadata.generation the condition was set from.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('Type of condition, in CamelCase.'),
    }, ['type', 'status', 'lastTransitionTime', 'reason', 'message']),
    'meta.Status': {
      ...obj('The result of an operation that returns no object, such as an error.', {
        apiVersion: API_VERSION,
        code: int('HTTP status code.'),
        details: ref('meta.StatusDetails', 'Extended data for the reason.'),
        kind: KIND,
        message: str('Human-readable description of the status.'),
        metadata: ref('meta.ListMeta', 'Standard list metadata.'),
        reason: str('Machine-readable reason, such as NotFound or AlreadyExists.'),
        status: str('Success or Failure.'),
      }),
      ...gvk('v1', 'Status'),
    },
    'meta.StatusDetails': obj('Extra data about a Status.', {
      causes: arr(ref('meta.StatusCause'), 'Field-level causes of the error.'),
      group: str('Group of the resource.'),
      kind: str('Kind (resource) of the object.'),
      name: str('Name of the object.'),
      retryAfterSeconds: int('Seconds to wait before retrying.'),
      uid: str('UID of the object.'),
    }),
    'meta.StatusCause': obj('One cause of an error.', {
      field: str('The field at fault, such as spec.containers[0].name.'),
      message: str('Human-readable description of the cause.'),
      reason: str('Machine-readable cause, such as FieldValueInvalid.'),
    }),
    'meta.DeleteOptions': {
      ...obj('Options for deleting an object.', {
        apiVersion: API_VERSION,
        dryRun: strs("'All' runs every stage without persisting."),
        gracePeriodSeconds: int64('Seconds before the object is deleted; 0 deletes immediately.'),
        kind: KIND,
        orphanDependents: bool('Deprecated: use propagationPolicy.'),
        preconditions: ref('meta.Preconditions', 'Must hold for the deletion to happen (else 409 Conflict).'),
        propagationPolicy: str('Orphan, Background or Foreground garbage collection of dependents.'),
      }),
      ...gvk('v1', 'DeleteOptions'),
    },
    'meta.Preconditions': obj('Conditions a delete must meet.', {
      resourceVersion: str('The target resourceVersion.'),
      uid: str('The target UID.'),
    }),
    'meta.WatchEvent': obj('One watch event.', {
      object: ref('runtime.RawExtension', 'The object (ADDED, MODIFIED, DELETED, BOOKMARK) or a Status (ERROR).'),
      type: str('ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.'),
    }, ['type', 'object']),
  };
}

// ---- core/v1: pods and what they contain ----

function containerProps(): Record<string, Schema> {
  const probe = (what: string) => ref('core.Probe', `Periodic probe of ${what}.`);
  return {
    args: strs('Arguments to the entrypoint; $(VAR) references are expanded.'),
    command: strs("Entrypoint array, not run in a shell; the image's ENTRYPOINT if empty."),
    env: keyed(ref('core.EnvVar'), ['name'], 'Environment variables to set in the container.'),
    envFrom: arr(ref('core.EnvFromSource'), 'Sources to populate environment variables from.'),
    image: str('Container image name.'),
    imagePullPolicy: str('Always, Never or IfNotPresent.'),
    lifecycle: ref('core.Lifecycle', 'Actions to take in response to container lifecycle events.'),
    livenessProbe: probe('container liveness; the container restarts if it fails'),
    name: str('Name of the container, a DNS label unique within the pod.'),
    ports: keyed(ref('core.ContainerPort'), ['containerPort', 'protocol'], 'Ports to expose from the container.'),
    readinessProbe: probe('container readiness; failing removes the pod from service endpoints'),
    resizePolicy: arr(ref('core.ContainerResizePolicy'), 'Resize policy per resource.'),
    resources: ref('core.ResourceRequirements', 'Compute resources required by this container.'),
    restartPolicy: str("Restart policy of an init container; 'Always' makes it a sidecar."),
    securityContext: ref('core.SecurityContext', 'Security options the container runs with.'),
    startupProbe: probe('container startup; other probes wait until it succeeds'),
    stdin: bool('Allocate a buffer for stdin.'),
    stdinOnce: bool('Close stdin after the first attach.'),
    terminationMessagePath: str("File the container's termination message is read from."),
    terminationMessagePolicy: str('File or FallbackToLogsOnError.'),
    tty: bool('Allocate a TTY.'),
    volumeDevices: keyed(ref('core.VolumeDevice'), ['devicePath'], 'Block devices to be used by the container.'),
    volumeMounts: keyed(ref('core.VolumeMount'), ['mountPath'], "Pod volumes to mount into the container's filesystem."),
    workingDir: str("Working directory; the image's default if empty."),
  };
}

function podSchemas(): Record<string, Schema> {
  const containers = (d: string) => keyed(ref('core.Container'), ['name'], d);
  const localRef = (d: string) => ref('core.LocalObjectReference', d);
  const selectorTerm = (d: string) => ref('core.NodeSelectorTerm', d);
  return {
    'core.Pod': kind('v1', 'Pod', 'A collection of containers that run together on a host.', {
      spec: spec('core.PodSpec', 'pod'),
      status: status('core.PodStatus', 'pod'),
    }),
    'core.PodList': list('v1', 'core.Pod'),
    'core.PodTemplateSpec': obj('Describes the pods created from a template.', {
      metadata: ref('meta.ObjectMeta', "Standard object's metadata."),
      spec: spec('core.PodSpec', 'pod'),
    }),
    'core.PodSpec': obj('Specification of a pod.', {
      activeDeadlineSeconds: int64('Seconds the pod may be active before the system fails it.'),
      affinity: ref('core.Affinity', "The pod's scheduling constraints."),
      automountServiceAccountToken: bool('Whether a service account token is mounted automatically.'),
      containers: containers('Containers of the pod. At least one.'),
      dnsConfig: ref('core.PodDNSConfig', 'DNS parameters merged with those from dnsPolicy.'),
      dnsPolicy: str('ClusterFirstWithHostNet, ClusterFirst, Default or None.'),
      enableServiceLinks: bool('Inject service information into environment variables.'),
      ephemeralContainers: keyed(ref('core.EphemeralContainer'), ['name'], 'Ephemeral containers run in this pod for debugging.'),
      hostAliases: keyed(ref('core.HostAlias'), ['ip'], "Entries added to the pod's /etc/hosts."),
      hostIPC: bool("Use the host's ipc namespace."),
      hostNetwork: bool("Use the host's network namespace."),
      hostPID: bool("Use the host's pid namespace."),
      hostUsers: bool("Use the host's user namespace."),
      hostname: str("The pod's hostname; the system default if empty."),
      imagePullSecrets: keyed(localRef('A secret in this namespace used to pull images.'), ['name'], 'Secrets in the same namespace used to pull the images.'),
      initContainers: containers('Containers run in order before the app containers start.'),
      nodeName: str('The node the pod is bound to.'),
      nodeSelector: strMap("Labels a node must have for the pod to fit on it."),
      os: ref('core.PodOS', 'The OS of the containers in the pod.'),
      overhead: quantities('Resource overhead of running the pod sandbox.'),
      preemptionPolicy: str('Never or PreemptLowerPriority.'),
      priority: int('Priority value; higher is more important.'),
      priorityClassName: str('The name of the pod\'s PriorityClass.'),
      readinessGates: arr(ref('core.PodReadinessGate'), 'Extra conditions required for pod readiness.'),
      resourceClaims: keyed(ref('core.PodResourceClaim'), ['name'], 'Resource claims the pod needs.', 'merge,retainKeys'),
      resources: ref('core.ResourceRequirements', 'Total resources of all containers of the pod.'),
      restartPolicy: str('Always, OnFailure or Never.'),
      runtimeClassName: str('RuntimeClass used to run the pod.'),
      schedulerName: str('The scheduler that places the pod.'),
      schedulingGates: keyed(ref('core.PodSchedulingGate'), ['name'], 'Gates that block scheduling while present.'),
      securityContext: ref('core.PodSecurityContext', 'Pod-level security attributes and common container settings.'),
      serviceAccount: str('Deprecated alias of serviceAccountName.'),
      serviceAccountName: str('Name of the ServiceAccount the pod runs as.'),
      setHostnameAsFQDN: bool("Set the pod's hostname to its fully qualified domain name."),
      shareProcessNamespace: bool('Share one process namespace among the containers.'),
      subdomain: str('Subdomain: the pod gets the FQDN hostname.subdomain.namespace.svc.cluster-domain.'),
      terminationGracePeriodSeconds: int64('Seconds given to the pod to terminate gracefully. Defaults to 30.'),
      tolerations: arr(ref('core.Toleration'), "The pod's tolerations."),
      topologySpreadConstraints: keyed(ref('core.TopologySpreadConstraint'), ['topologyKey', 'whenUnsatisfiable'], 'How pods spread across topology domains.'),
      volumes: keyed(ref('core.Volume'), ['name'], 'Volumes containers of the pod can mount.', 'merge,retainKeys'),
    }, ['containers']),
    'core.Container': obj('A single application container to run within a pod.', containerProps(), ['name']),
    'core.EphemeralContainer': obj('A temporary container added to a running pod for debugging.', {
      ...containerProps(),
      targetContainerName: str('The container whose namespaces this one targets.'),
    }, ['name']),
    'core.ContainerPort': obj('A network port in a single container.', {
      containerPort: int("Port number on the pod's IP address."),
      hostIP: str('Host IP to bind the external port to.'),
      hostPort: int('Port number to expose on the host.'),
      name: str('IANA service name, referable by services.'),
      protocol: str('UDP, TCP or SCTP. Defaults to TCP.'),
    }, ['containerPort']),
    'core.EnvVar': obj('An environment variable in a container.', {
      name: str('Name of the variable.'),
      value: str('Value; $(VAR) references are expanded.'),
      valueFrom: ref('core.EnvVarSource', 'Source of the value; cannot be used if value is not empty.'),
    }, ['name']),
    'core.EnvVarSource': obj('A source for an environment variable value.', {
      configMapKeyRef: ref('core.ConfigMapKeySelector', 'A key of a ConfigMap.'),
      fieldRef: ref('core.ObjectFieldSelector', 'A field of the pod, such as metadata.name or status.podIP.'),
      resourceFieldRef: ref('core.ResourceFieldSelector', 'A resource of the container, such as limits.cpu.'),
      secretKeyRef: ref('core.SecretKeySelector', "A key of a secret in the pod's namespace."),
    }),
    'core.ConfigMapKeySelector': obj('Selects a key of a ConfigMap.', {
      key: str('The key to select.'),
      name: str('Name of the referent.'),
      optional: bool('Whether the ConfigMap or its key may be missing.'),
    }, ['key']),
    'core.SecretKeySelector': obj('Selects a key of a Secret.', {
      key: str('The key to select.'),
      name: str('Name of the referent.'),
      optional: bool('Whether the Secret or its key may be missing.'),
    }, ['key']),
    'core.ObjectFieldSelector': obj('Selects a field of an object.', {
      apiVersion: str('Version of the schema the path is written in. Defaults to v1.'),
      fieldPath: str('Path of the field to select.'),
    }, ['fieldPath']),
    'core.ResourceFieldSelector': obj('Selects a container resource (limits or requests).', {
      containerName: str('Container name; required for volumes.'),
      divisor: ref('resource.Quantity', 'Output format of the exposed resources. Defaults to 1.'),
      resource: str('Resource to select.'),
    }, ['resource']),
    'core.EnvFromSource': obj('A source of a set of environment variables.', {
      configMapRef: ref('core.ConfigMapEnvSource', 'The ConfigMap to select from.'),
      prefix: str('Identifier to prepend to each key.'),
      secretRef: ref('core.SecretEnvSource', 'The Secret to select from.'),
    }),
    'core.ConfigMapEnvSource': obj("A ConfigMap whose data become environment variables.", {
      name: str('Name of the referent.'),
      optional: bool('Whether the ConfigMap may be missing.'),
    }),
    'core.SecretEnvSource': obj("A Secret whose data become environment variables.", {
      name: str('Name of the referent.'),
      optional: bool('Whether the Secret may be missing.'),
    }),
    'core.ResourceRequirements': obj('Compute resource requirements.', {
      claims: keyed(ref('core.ResourceClaim'), ['name'], 'Resources from spec.resourceClaims used by this container.'),
      limits: quantities('Maximum amount of compute resources allowed.'),
      requests: quantities('Minimum amount of compute resources required. Defaults to limits.'),
    }),
    'core.ResourceClaim': obj('A reference to one entry in PodSpec.resourceClaims.', {
      name: str('Name of the entry in pod.spec.resourceClaims.'),
      request: str('Name of a request in the claim; empty means all.'),
    }, ['name']),
    'core.ContainerResizePolicy': obj('Resize policy for a container resource.', {
      resourceName: str('The resource (cpu, memory).'),
      restartPolicy: str('NotRequired or RestartContainer.'),
    }, ['resourceName', 'restartPolicy']),
    'core.VolumeMount': obj('Mounting of a volume within a container.', {
      mountPath: str('Path within the container at which to mount. Must not contain \':\'.'),
      mountPropagation: str('None, HostToContainer or Bidirectional.'),
      name: str('Name of the volume.'),
      readOnly: bool('Mount read-only.'),
      recursiveReadOnly: str('Disabled, IfPossible or Enabled.'),
      subPath: str('Path within the volume to mount instead of its root.'),
      subPathExpr: str('Like subPath, with $(VAR) references expanded.'),
    }, ['name', 'mountPath']),
    'core.VolumeDevice': obj('A raw block device within a container.', {
      devicePath: str('Path inside the container the device is mapped to.'),
      name: str('Name of a persistentVolumeClaim in the pod.'),
    }, ['name', 'devicePath']),
    'core.Probe': obj('A health check performed against a container.', {
      exec: ref('core.ExecAction', 'Run a command.'),
      failureThreshold: int('Consecutive failures for the probe to be considered failed. Defaults to 3.'),
      grpc: ref('core.GRPCAction', 'Call a gRPC health check.'),
      httpGet: ref('core.HTTPGetAction', 'Perform an HTTP GET.'),
      initialDelaySeconds: int('Seconds after the container starts before the first probe.'),
      periodSeconds: int('How often (in seconds) to probe. Defaults to 10.'),
      successThreshold: int('Consecutive successes for the probe to be considered successful. Defaults to 1.'),
      tcpSocket: ref('core.TCPSocketAction', 'Open a TCP connection.'),
      terminationGracePeriodSeconds: int64('Grace period when the probe fails; overrides the pod value.'),
      timeoutSeconds: int('Seconds after which the probe times out. Defaults to 1.'),
    }),
    'core.ExecAction': obj('Run a command in the container.', {
      command: strs('Command line to run, not in a shell; exit status 0 is healthy.'),
    }),
    'core.HTTPGetAction': obj('An HTTP GET request.', {
      host: str('Host name to connect to; defaults to the pod IP.'),
      httpHeaders: arr(ref('core.HTTPHeader'), 'Custom headers to set in the request.'),
      path: str('Path to access on the HTTP server.'),
      port: intOrStr('Number or name of the port to access.'),
      scheme: str('HTTP or HTTPS. Defaults to HTTP.'),
    }, ['port']),
    'core.HTTPHeader': obj('A custom HTTP header.', {
      name: str('Header field name.'),
      value: str('Header field value.'),
    }, ['name', 'value']),
    'core.TCPSocketAction': obj('A TCP connection attempt.', {
      host: str('Host name to connect to; defaults to the pod IP.'),
      port: intOrStr('Number or name of the port to access.'),
    }, ['port']),
    'core.GRPCAction': obj('A gRPC health check call.', {
      port: int('Port number of the gRPC service.'),
      service: str('Service name placed in the gRPC HealthCheckRequest.'),
    }, ['port']),
    'core.Lifecycle': obj('Actions the system takes on container lifecycle events.', {
      postStart: ref('core.LifecycleHandler', 'Called right after the container is created.'),
      preStop: ref('core.LifecycleHandler', 'Called right before the container is terminated.'),
    }),
    'core.LifecycleHandler': obj('One action of a lifecycle hook.', {
      exec: ref('core.ExecAction', 'Run a command.'),
      httpGet: ref('core.HTTPGetAction', 'Perform an HTTP GET.'),
      sleep: ref('core.SleepAction', 'Sleep for a while.'),
      tcpSocket: ref('core.TCPSocketAction', 'Deprecated; not supported.'),
    }),
    'core.SleepAction': obj('Sleep for a number of seconds.', { seconds: int64('Seconds to sleep.') }, ['seconds']),
    'core.SecurityContext': obj('Security options of a container.', {
      allowPrivilegeEscalation: bool('Whether a process can gain more privileges than its parent.'),
      appArmorProfile: ref('core.AppArmorProfile', 'AppArmor options.'),
      capabilities: ref('core.Capabilities', 'Capabilities to add or drop.'),
      privileged: bool('Run in privileged mode.'),
      procMount: str('Default or Unmasked.'),
      readOnlyRootFilesystem: bool('Mount the root filesystem read-only.'),
      runAsGroup: int64('GID to run the entrypoint as.'),
      runAsNonRoot: bool('Require the container to run as a non-root user.'),
      runAsUser: int64('UID to run the entrypoint as.'),
      seLinuxOptions: ref('core.SELinuxOptions', 'SELinux context.'),
      seccompProfile: ref('core.SeccompProfile', 'Seccomp options.'),
      windowsOptions: ref('core.WindowsSecurityContextOptions', 'Windows-specific options.'),
    }),
    'core.PodSecurityContext': obj('Pod-level security attributes.', {
      appArmorProfile: ref('core.AppArmorProfile', 'AppArmor options.'),
      fsGroup: int64('Supplemental group that owns the pod volumes.'),
      fsGroupChangePolicy: str('OnRootMismatch or Always.'),
      runAsGroup: int64('GID to run container entrypoints as.'),
      runAsNonRoot: bool('Require containers to run as a non-root user.'),
      runAsUser: int64('UID to run container entrypoints as.'),
      seLinuxChangePolicy: str('MountOption or Recursive.'),
      seLinuxOptions: ref('core.SELinuxOptions', 'SELinux context.'),
      seccompProfile: ref('core.SeccompProfile', 'Seccomp options.'),
      supplementalGroups: arr(int64(), 'Groups added to the first process of each container.'),
      supplementalGroupsPolicy: str('Merge or Strict.'),
      sysctls: arr(ref('core.Sysctl'), 'Namespaced sysctls for the pod.'),
      windowsOptions: ref('core.WindowsSecurityContextOptions', 'Windows-specific options.'),
    }),
    'core.Capabilities': obj('POSIX capabilities to add or drop.', {
      add: strs('Capabilities to add.'),
      drop: strs('Capabilities to drop.'),
    }),
    'core.SELinuxOptions': obj('SELinux labels.', {
      level: str('SELinux level label.'),
      role: str('SELinux role label.'),
      type: str('SELinux type label.'),
      user: str('SELinux user label.'),
    }),
    'core.SeccompProfile': obj('A seccomp profile.', {
      localhostProfile: str('Path of a profile on the node (for type Localhost).'),
      type: str('Localhost, RuntimeDefault or Unconfined.'),
    }, ['type']),
    'core.AppArmorProfile': obj('An AppArmor profile.', {
      localhostProfile: str('Name of a profile loaded on the node (for type Localhost).'),
      type: str('Localhost, RuntimeDefault or Unconfined.'),
    }, ['type']),
    'core.WindowsSecurityContextOptions': obj('Windows-specific security options.', {
      gmsaCredentialSpec: str('GMSA credential spec contents.'),
      gmsaCredentialSpecName: str('Name of the GMSA credential spec.'),
      hostProcess: bool('Run as a host process container.'),
      runAsUserName: str('User name to run the entrypoint as.'),
    }),
    'core.Sysctl': obj('A kernel parameter to set.', {
      name: str('Name of the parameter.'),
      value: str('Value of the parameter.'),
    }, ['name', 'value']),
    'core.Toleration': obj('Lets the pod tolerate any taint matching <key,value,effect> with the operator.', {
      effect: str('NoSchedule, PreferNoSchedule or NoExecute; empty matches all effects.'),
      key: str('Taint key; empty with operator Exists matches all taints.'),
      operator: str('Exists or Equal. Defaults to Equal.'),
      tolerationSeconds: int64('How long a NoExecute taint is tolerated before eviction.'),
      value: str('Taint value to match (for operator Equal).'),
    }),
    'core.Affinity': obj('Scheduling constraints of a pod.', {
      nodeAffinity: ref('core.NodeAffinity', 'Node affinity rules.'),
      podAffinity: ref('core.PodAffinity', 'Rules to co-locate with other pods.'),
      podAntiAffinity: ref('core.PodAntiAffinity', 'Rules to avoid other pods.'),
    }),
    'core.NodeAffinity': obj('Node affinity rules.', {
      preferredDuringSchedulingIgnoredDuringExecution: arr(ref('core.PreferredSchedulingTerm'), 'Preferred node terms, weighted.'),
      requiredDuringSchedulingIgnoredDuringExecution: ref('core.NodeSelector', 'Nodes the pod must be scheduled on.'),
    }),
    'core.NodeSelector': {
      ...obj('Node selector terms, ORed.', {
        nodeSelectorTerms: arr(selectorTerm('A term; its requirements are ANDed.'), 'The terms, ORed.'),
      }, ['nodeSelectorTerms']),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.NodeSelectorTerm': {
      ...obj('Requirements on node labels and fields, ANDed.', {
        matchExpressions: arr(ref('core.NodeSelectorRequirement'), "Requirements on the node's labels."),
        matchFields: arr(ref('core.NodeSelectorRequirement'), "Requirements on the node's fields."),
      }),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.NodeSelectorRequirement': obj('A node selector requirement.', {
      key: str('The label key.'),
      operator: str('In, NotIn, Exists, DoesNotExist, Gt or Lt.'),
      values: strs('Values; one integer for Gt and Lt, empty for Exists and DoesNotExist.'),
    }, ['key', 'operator']),
    'core.PreferredSchedulingTerm': obj('A weighted node selector term.', {
      preference: selectorTerm('The node selector term.'),
      weight: int('Weight, 1-100.'),
    }, ['weight', 'preference']),
    'core.PodAffinity': obj('Rules to co-locate pods.', {
      preferredDuringSchedulingIgnoredDuringExecution: arr(ref('core.WeightedPodAffinityTerm'), 'Preferred terms, weighted.'),
      requiredDuringSchedulingIgnoredDuringExecution: arr(ref('core.PodAffinityTerm'), 'Terms that must be met.'),
    }),
    'core.PodAntiAffinity': obj('Rules to keep pods apart.', {
      preferredDuringSchedulingIgnoredDuringExecution: arr(ref('core.WeightedPodAffinityTerm'), 'Preferred terms, weighted.'),
      requiredDuringSchedulingIgnoredDuringExecution: arr(ref('core.PodAffinityTerm'), 'Terms that must be met.'),
    }),
    'core.PodAffinityTerm': obj('Pods (matched by selector, in namespaces) this pod should be in the same topology domain as.', {
      labelSelector: ref('meta.LabelSelector', 'Label query over pods.'),
      matchLabelKeys: strs('Pod label keys whose values are added to labelSelector.'),
      mismatchLabelKeys: strs('Pod label keys whose values are excluded via labelSelector.'),
      namespaceSelector: ref('meta.LabelSelector', 'Label query over namespaces.'),
      namespaces: strs("Namespaces the selector applies to; the pod's namespace if empty."),
      topologyKey: str('Node label key defining the topology domain.'),
    }, ['topologyKey']),
    'core.WeightedPodAffinityTerm': obj('A weighted pod affinity term.', {
      podAffinityTerm: ref('core.PodAffinityTerm', 'The pod affinity term.'),
      weight: int('Weight, 1-100.'),
    }, ['weight', 'podAffinityTerm']),
    'core.TopologySpreadConstraint': obj('How to spread matching pods across a topology.', {
      labelSelector: ref('meta.LabelSelector', 'Finds the pods to count.'),
      matchLabelKeys: strs('Pod label keys whose values narrow the selection.'),
      maxSkew: int('Maximum permitted difference of matching pods between domains.'),
      minDomains: int('Minimum number of eligible domains.'),
      nodeAffinityPolicy: str('Honor or Ignore the pod\'s node affinity when computing skew.'),
      nodeTaintsPolicy: str('Honor or Ignore node taints when computing skew.'),
      topologyKey: str('Node label key defining the topology domain.'),
      whenUnsatisfiable: str('DoNotSchedule or ScheduleAnyway.'),
    }, ['maxSkew', 'topologyKey', 'whenUnsatisfiable']),
    'core.HostAlias': obj("An /etc/hosts entry.", {
      hostnames: strs('Hostnames for the IP.'),
      ip: str('IP address of the entry.'),
    }, ['ip']),
    'core.LocalObjectReference': {
      ...obj('A reference to an object in the same namespace.', { name: str('Name of the referent.') }),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.PodDNSConfig': obj('DNS parameters of a pod.', {
      nameservers: strs('DNS name server IP addresses.'),
      options: arr(ref('core.PodDNSConfigOption'), 'DNS resolver options.'),
      searches: strs('DNS search domains.'),
    }),
    'core.PodDNSConfigOption': obj('A DNS resolver option.', { name: str('Option name.'), value: str('Option value.') }),
    'core.PodReadinessGate': obj('A pod condition required for readiness.', {
      conditionType: str('Type of a condition in the pod\'s condition list.'),
    }, ['conditionType']),
    'core.PodOS': obj('The OS of a pod.', { name: str('linux or windows.') }, ['name']),
    'core.PodSchedulingGate': obj('A gate that blocks scheduling.', { name: str('Name of the gate.') }, ['name']),
    'core.PodResourceClaim': obj('A resource claim the pod needs.', {
      name: str('Name of the claim inside the pod.'),
      resourceClaimName: str('Name of a ResourceClaim in the pod\'s namespace.'),
      resourceClaimTemplateName: str('Name of a ResourceClaimTemplate to create a claim from.'),
    }, ['name']),
    ...volumeSchemas(),
    ...podStatusSchemas(),
    'core.Binding': kind('v1', 'Binding', 'Binds an object to another, such as a pod to a node.', {
      target: ref('core.ObjectReference', 'The object to bind to.'),
    }, ['target']),
  };
}

function volumeSchemas(): Record<string, Schema> {
  const keyToPath = (d: string) => arr(ref('core.KeyToPath'), d);
  const mode = (d: string) => int(d);
  // Deprecated or cloud-specific sources, accepted but not spelled out.
  const legacy = ['awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'fc', 'flexVolume', 'flocker',
    'gcePersistentDisk', 'gitRepo', 'glusterfs', 'iscsi', 'photonPersistentDisk', 'portworxVolume', 'quobyte', 'rbd',
    'scaleIO', 'storageos', 'vsphereVolume'];
  return {
    'core.Volume': obj('A named volume in a pod that containers can mount.', {
      configMap: ref('core.ConfigMapVolumeSource', 'A ConfigMap whose keys become files.'),
      csi: ref('core.CSIVolumeSource', 'An ephemeral volume from a CSI driver.'),
      downwardAPI: ref('core.DownwardAPIVolumeSource', 'Pod fields exposed as files.'),
      emptyDir: ref('core.EmptyDirVolumeSource', 'A temporary directory that shares the pod\'s lifetime.'),
      ephemeral: ref('core.EphemeralVolumeSource', 'A volume handled by a storage driver, with the pod\'s lifetime.'),
      hostPath: ref('core.HostPathVolumeSource', 'A file or directory on the host.'),
      image: ref('core.ImageVolumeSource', 'An OCI image or artifact mounted read-only.'),
      name: str('Name of the volume, a DNS label unique within the pod.'),
      nfs: ref('core.NFSVolumeSource', 'An NFS mount on the host.'),
      persistentVolumeClaim: ref('core.PersistentVolumeClaimVolumeSource', 'A PersistentVolumeClaim in the pod\'s namespace.'),
      projected: ref('core.ProjectedVolumeSource', 'Several sources projected into one directory.'),
      secret: ref('core.SecretVolumeSource', 'A Secret whose keys become files.'),
      ...Object.fromEntries(legacy.map((n) => [n, free(`A ${n} volume (not interpreted by skiff).`)])),
    }, ['name']),
    'core.KeyToPath': obj('Maps a key to a file path.', {
      key: str('The key to project.'),
      mode: mode('File mode bits (0000-0777).'),
      path: str('Relative path of the file.'),
    }, ['key', 'path']),
    'core.EmptyDirVolumeSource': obj('An empty directory for a pod.', {
      medium: str("Storage medium: '' (node default) or Memory."),
      sizeLimit: ref('resource.Quantity', 'Maximum size of the volume.'),
    }),
    'core.HostPathVolumeSource': obj('A host path mapped into a pod.', {
      path: str('Path on the host.'),
      type: str('Expected type: DirectoryOrCreate, Directory, FileOrCreate, File, Socket, CharDevice, BlockDevice.'),
    }, ['path']),
    'core.ConfigMapVolumeSource': obj('A ConfigMap projected into a volume.', {
      defaultMode: mode('Mode bits of created files. Defaults to 0644.'),
      items: keyToPath('Keys to project; all keys if empty.'),
      name: str('Name of the ConfigMap.'),
      optional: bool('Whether the ConfigMap or its keys may be missing.'),
    }),
    'core.SecretVolumeSource': obj('A Secret projected into a volume.', {
      defaultMode: mode('Mode bits of created files. Defaults to 0644.'),
      items: keyToPath('Keys to project; all keys if empty.'),
      optional: bool('Whether the Secret or its keys may be missing.'),
      secretName: str('Name of the Secret in the pod\'s namespace.'),
    }),
    'core.PersistentVolumeClaimVolumeSource': obj('A reference to a PersistentVolumeClaim.', {
      claimName: str('Name of the claim in the pod\'s namespace.'),
      readOnly: bool('Mount read-only.'),
    }, ['claimName']),
    'core.NFSVolumeSource': obj('An NFS mount.', {
      path: str('Path exported by the NFS server.'),
      readOnly: bool('Mount read-only.'),
      server: str('Hostname or IP of the NFS server.'),
    }, ['server', 'path']),
    'core.CSIVolumeSource': obj('A volume provided by a CSI driver.', {
      driver: str('Name of the CSI driver.'),
      fsType: str('Filesystem type to mount.'),
      nodePublishSecretRef: ref('core.LocalObjectReference', 'Secret with data for the driver.'),
      readOnly: bool('Mount read-only.'),
      volumeAttributes: strMap('Driver-specific properties.'),
    }, ['driver']),
    'core.EphemeralVolumeSource': obj('An ephemeral volume handled by a storage driver.', {
      volumeClaimTemplate: free('Template of the PersistentVolumeClaim created for the pod.'),
    }),
    'core.ImageVolumeSource': obj('An OCI object mounted as a volume.', {
      pullPolicy: str('Always, Never or IfNotPresent.'),
      reference: str('Image or artifact reference.'),
    }),
    'core.DownwardAPIVolumeSource': obj('Pod information exposed as files.', {
      defaultMode: mode('Mode bits of created files. Defaults to 0644.'),
      items: arr(ref('core.DownwardAPIVolumeFile'), 'The files.'),
    }),
    'core.DownwardAPIVolumeFile': obj('A file holding a pod field.', {
      fieldRef: ref('core.ObjectFieldSelector', 'A field of the pod.'),
      mode: mode('File mode bits.'),
      path: str('Relative path of the file.'),
      resourceFieldRef: ref('core.ResourceFieldSelector', 'A container resource.'),
    }, ['path']),
    'core.ProjectedVolumeSource': obj('Sources projected into one directory.', {
      defaultMode: mode('Mode bits of created files.'),
      sources: arr(ref('core.VolumeProjection'), 'The projections.'),
    }),
    'core.VolumeProjection': obj('One projection; exactly one field is set.', {
      clusterTrustBundle: free('Certificates from ClusterTrustBundle objects.'),
      configMap: ref('core.ConfigMapProjection', 'A ConfigMap.'),
      downwardAPI: ref('core.DownwardAPIProjection', 'Pod fields.'),
      secret: ref('core.SecretProjection', 'A Secret.'),
      serviceAccountToken: ref('core.ServiceAccountTokenProjection', 'A service account token.'),
    }),
    'core.ConfigMapProjection': obj('A ConfigMap projected into a volume.', {
      items: keyToPath('Keys to project; all keys if empty.'),
      name: str('Name of the ConfigMap.'),
      optional: bool('Whether the ConfigMap or its keys may be missing.'),
    }),
    'core.SecretProjection': obj('A Secret projected into a volume.', {
      items: keyToPath('Keys to project; all keys if empty.'),
      name: str('Name of the Secret.'),
      optional: bool('Whether the Secret or its keys may be missing.'),
    }),
    'core.DownwardAPIProjection': obj('Pod fields projected into a volume.', {
      items: arr(ref('core.DownwardAPIVolumeFile'), 'The files.'),
    }),
    'core.ServiceAccountTokenProjection': obj('A service account token projected into a volume.', {
      audience: str('Intended audience of the token.'),
      expirationSeconds: int64('Requested validity of the token.'),
      path: str('Relative path of the token file.'),
    }, ['path']),
  };
}

function podStatusSchemas(): Record<string, Schema> {
  const statuses = (d: string) => arr(ref('core.ContainerStatus'), d);
  return {
    'core.PodStatus': obj('Most recently observed status of a pod.', {
      conditions: keyed(ref('core.PodCondition'), ['type'], 'Current service state of the pod.'),
      containerStatuses: statuses('Status of each app container.'),
      ephemeralContainerStatuses: statuses('Status of each ephemeral container.'),
      hostIP: str('IP address of the host the pod is assigned to.'),
      hostIPs: keyed(ref('core.HostIP'), ['ip'], 'IP addresses of the host.'),
      initContainerStatuses: statuses('Status of each init container.'),
      message: str('Human-readable message on why the pod is in this state.'),
      nominatedNodeName: str('Node the pod may be placed on after preemption.'),
      phase: str('Pending, Running, Succeeded, Failed or Unknown.'),
      podIP: str('IP address of the pod.'),
      podIPs: keyed(ref('core.PodIP'), ['ip'], 'IP addresses of the pod.'),
      qosClass: str('Guaranteed, Burstable or BestEffort.'),
      reason: str('CamelCase reason the pod is in this state, such as Evicted.'),
      resize: str('Status of a requested resize.'),
      resourceClaimStatuses: arr(free('Name of the ResourceClaim generated for a pod resource claim.'), 'Generated ResourceClaims.'),
      startTime: time('When the kubelet acknowledged the pod.'),
    }),
    'core.PodCondition': obj('A condition of a pod.', {
      lastProbeTime: time('Last time the condition was probed.'),
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('PodScheduled, Initialized, ContainersReady, Ready, ...'),
    }, ['type', 'status']),
    'core.PodIP': obj('An IP address of a pod.', { ip: str('The IP address.') }, ['ip']),
    'core.HostIP': obj('An IP address of a host.', { ip: str('The IP address.') }, ['ip']),
    'core.ContainerStatus': obj('Status of a container.', {
      allocatedResources: quantities('Resources allocated to the container.'),
      allocatedResourcesStatus: arr(free('Health of the devices of one resource.'), 'Status of resources allocated to the container.'),
      containerID: str("Container id, as '<type>://<id>'."),
      image: str('Image the container runs.'),
      imageID: str('Image id of the running image.'),
      lastState: ref('core.ContainerState', 'Last termination of the container.'),
      name: str('Name of the container.'),
      ready: bool('Whether the container passes its readiness probe.'),
      resources: ref('core.ResourceRequirements', 'Resources actually applied.'),
      restartCount: int('Number of times the container restarted.'),
      started: bool('Whether the container passed its startup probe.'),
      state: ref('core.ContainerState', 'Current state of the container.'),
      stopSignal: str('Signal sent to stop the container.'),
      user: free('User identity of the container process.'),
      volumeMounts: arr(ref('core.VolumeMountStatus'), 'Status of volume mounts.'),
    }, ['name', 'ready', 'restartCount', 'image', 'imageID']),
    'core.VolumeMountStatus': obj('Status of a volume mount.', {
      mountPath: str('Path of the mount.'),
      name: str('Name of the volume.'),
      readOnly: bool('Mounted read-only.'),
      recursiveReadOnly: str('Disabled or Enabled.'),
    }, ['name', 'mountPath']),
    'core.ContainerState': obj('State of a container: one field is set.', {
      running: ref('core.ContainerStateRunning', 'The container is running.'),
      terminated: ref('core.ContainerStateTerminated', 'The container has terminated.'),
      waiting: ref('core.ContainerStateWaiting', 'The container is waiting.'),
    }),
    'core.ContainerStateRunning': obj('A running container.', { startedAt: time('When the container last started.') }),
    'core.ContainerStateWaiting': obj('A waiting container.', {
      message: str('Why the container is not yet running.'),
      reason: str('CamelCase reason, such as ContainerCreating or CrashLoopBackOff.'),
    }),
    'core.ContainerStateTerminated': obj('A terminated container.', {
      containerID: str("Container id, as '<type>://<id>'."),
      exitCode: int('Exit status of the last termination.'),
      finishedAt: time('When the container last terminated.'),
      message: str('Message about the termination.'),
      reason: str('CamelCase reason, such as Completed or Error.'),
      signal: int('Signal of the last termination.'),
      startedAt: time('When the container started.'),
    }, ['exitCode']),
  };
}

// ---- core/v1: everything else ----

function coreSchemas(): Record<string, Schema> {
  const condition = (what: string, types: string) => obj(`A condition of a ${what}.`, {
    lastTransitionTime: time('Last time the condition changed status.'),
    message: str('Human-readable details.'),
    reason: str('CamelCase reason for the last transition.'),
    status: str('True, False or Unknown.'),
    type: str(types),
  }, ['type', 'status']);
  return {
    'core.ObjectReference': {
      ...obj('A reference to an object.', {
        apiVersion: str('API version of the referent.'),
        fieldPath: str('A field within the object, such as spec.containers{name}.'),
        kind: str('Kind of the referent.'),
        name: str('Name of the referent.'),
        namespace: str('Namespace of the referent.'),
        resourceVersion: str('Specific resourceVersion referred to.'),
        uid: str('UID of the referent.'),
      }),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.Namespace': kind('v1', 'Namespace', 'A scope for names.', {
      spec: spec('core.NamespaceSpec', 'namespace'),
      status: status('core.NamespaceStatus', 'namespace'),
    }),
    'core.NamespaceList': list('v1', 'core.Namespace'),
    'core.NamespaceSpec': obj('Attributes of a namespace.', {
      finalizers: strs('Must be empty before the namespace is removed.'),
    }),
    'core.NamespaceStatus': obj('Status of a namespace.', {
      conditions: keyed(ref('core.NamespaceCondition'), ['type'], 'Latest observations of the namespace\'s state.'),
      phase: str('Active or Terminating.'),
    }),
    'core.NamespaceCondition': condition('namespace', 'Type of namespace condition.'),
    'core.Node': kind('v1', 'Node', 'A worker machine.', {
      spec: spec('core.NodeSpec', 'node'),
      status: status('core.NodeStatus', 'node'),
    }),
    'core.NodeList': list('v1', 'core.Node'),
    'core.NodeSpec': obj('Attributes of a node.', {
      configSource: free('Deprecated; not used.'),
      externalID: str('Deprecated; not used.'),
      podCIDR: str('Pod IP range assigned to the node.'),
      podCIDRs: { ...strs('Pod IP ranges assigned to the node.'), 'x-kubernetes-list-type': 'set', 'x-kubernetes-patch-strategy': 'merge' },
      providerID: str('ID of the node assigned by the cloud provider.'),
      taints: arr(ref('core.Taint'), "The node's taints."),
      unschedulable: bool('Keep new pods off the node (cordon).'),
    }),
    'core.Taint': obj('Repels pods that do not tolerate it.', {
      effect: str('NoSchedule, PreferNoSchedule or NoExecute.'),
      key: str('Taint key.'),
      timeAdded: time('When a NoExecute taint was added.'),
      value: str('Taint value.'),
    }, ['key', 'effect']),
    'core.NodeStatus': obj('Most recently observed status of a node.', {
      addresses: keyed(ref('core.NodeAddress'), ['type'], 'Addresses reachable to the node.'),
      allocatable: quantities('Resources available for scheduling.'),
      capacity: quantities('Total resources of the node.'),
      conditions: keyed(ref('core.NodeCondition'), ['type'], 'Current observed conditions, such as Ready.'),
      config: free('Status of the dynamic kubelet config.'),
      daemonEndpoints: ref('core.NodeDaemonEndpoints', 'Endpoints of daemons on the node.'),
      features: ref('core.NodeFeatures', 'Features the node supports.'),
      images: arr(ref('core.ContainerImage'), 'Images on the node.'),
      nodeInfo: ref('core.NodeSystemInfo', 'General information about the node.'),
      phase: str('Deprecated; not set.'),
      runtimeHandlers: arr(ref('core.NodeRuntimeHandler'), 'Available runtime handlers.'),
      volumesAttached: arr(ref('core.AttachedVolume'), 'Volumes attached to the node.'),
      volumesInUse: strs('Attachable volumes in use by the node.'),
    }),
    'core.NodeAddress': obj('An address of a node.', {
      address: str('The address.'),
      type: str('Hostname, ExternalIP, InternalIP, ExternalDNS or InternalDNS.'),
    }, ['type', 'address']),
    'core.NodeCondition': obj('A condition of a node.', {
      lastHeartbeatTime: time('Last time the condition was updated.'),
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('Ready, MemoryPressure, DiskPressure, PIDPressure or NetworkUnavailable.'),
    }, ['type', 'status']),
    'core.NodeDaemonEndpoints': obj('Ports of daemons on a node.', {
      kubeletEndpoint: ref('core.DaemonEndpoint', 'Endpoint of the kubelet (agent).'),
    }),
    'core.DaemonEndpoint': obj('A daemon endpoint.', { Port: int('Port number.') }, ['Port']),
    'core.NodeFeatures': obj('Features a node supports.', {
      supplementalGroupsPolicy: bool('Supports the supplementalGroupsPolicy field.'),
    }),
    'core.NodeRuntimeHandler': obj('A runtime handler of a node.', {
      features: ref('core.NodeRuntimeHandlerFeatures', 'Supported features.'),
      name: str('Handler name; empty for the default.'),
    }),
    'core.NodeRuntimeHandlerFeatures': obj('Features of a runtime handler.', {
      recursiveReadOnlyMounts: bool('Supports recursive read-only mounts.'),
      userNamespaces: bool('Supports user namespaces.'),
    }),
    'core.ContainerImage': obj('An image on a node.', {
      names: strs('Names of the image.'),
      sizeBytes: int64('Size of the image in bytes.'),
    }),
    'core.AttachedVolume': obj('A volume attached to a node.', {
      devicePath: str('Where the volume is available.'),
      name: str('Name of the volume.'),
    }, ['name', 'devicePath']),
    'core.NodeSystemInfo': obj('Identity and versions of a node.', {
      architecture: str('Architecture reported by the node.'),
      bootID: str('Boot ID reported by the node.'),
      containerRuntimeVersion: str("Container runtime version, as '<type>://<version>'."),
      kernelVersion: str("Kernel version ('uname -r')."),
      kubeProxyVersion: str('Deprecated; not reliable.'),
      kubeletVersion: str('Kubelet (agent) version.'),
      machineID: str('Machine ID reported by the node.'),
      operatingSystem: str('Operating system reported by the node.'),
      osImage: str('OS image reported by the node.'),
      swap: free('Swap information.'),
      systemUUID: str('System UUID reported by the node.'),
    }, ['machineID', 'systemUUID', 'bootID', 'kernelVersion', 'osImage', 'containerRuntimeVersion', 'kubeletVersion', 'kubeProxyVersion', 'operatingSystem', 'architecture']),
    'core.Service': kind('v1', 'Service', 'A named abstraction of a set of pods behind ports and a virtual IP.', {
      spec: spec('core.ServiceSpec', 'service'),
      status: status('core.ServiceStatus', 'service'),
    }),
    'core.ServiceList': list('v1', 'core.Service'),
    'core.ServiceSpec': obj('Attributes of a service.', {
      allocateLoadBalancerNodePorts: bool('Allocate node ports for a LoadBalancer service. Defaults to true.'),
      clusterIP: str("IP address of the service; 'None' makes a headless service."),
      clusterIPs: strs('IP addresses of the service, one per IP family.'),
      externalIPs: strs('IPs on which nodes also accept traffic for the service.'),
      externalName: str('DNS name returned as a CNAME (type ExternalName).'),
      externalTrafficPolicy: str('Cluster or Local routing of external traffic.'),
      healthCheckNodePort: int('Health check node port (LoadBalancer with Local policy).'),
      internalTrafficPolicy: str('Cluster or Local routing of in-cluster traffic.'),
      ipFamilies: strs('IPv4 and/or IPv6.'),
      ipFamilyPolicy: str('SingleStack, PreferDualStack or RequireDualStack.'),
      loadBalancerClass: str('Class of the load balancer implementation.'),
      loadBalancerIP: str('Deprecated: requested load balancer IP.'),
      loadBalancerSourceRanges: strs('Client IP ranges allowed through the load balancer.'),
      ports: keyed(ref('core.ServicePort'), ['port', 'protocol'], 'Ports exposed by the service.'),
      publishNotReadyAddresses: bool('Publish endpoints of pods that are not ready.'),
      selector: { ...strMap('Pods with these labels receive the traffic.'), 'x-kubernetes-map-type': 'atomic' },
      sessionAffinity: str('ClientIP or None. Defaults to None.'),
      sessionAffinityConfig: ref('core.SessionAffinityConfig', 'Session affinity settings.'),
      trafficDistribution: str('How traffic is distributed to endpoints, such as PreferClose.'),
      type: str('ClusterIP, NodePort, LoadBalancer or ExternalName. Defaults to ClusterIP.'),
    }),
    'core.ServicePort': obj('A port of a service.', {
      appProtocol: str('Application protocol of the port.'),
      name: str('Name of the port; required when there are several.'),
      nodePort: int('Port on each node (NodePort and LoadBalancer).'),
      port: int('Port exposed by the service.'),
      protocol: str('TCP, UDP or SCTP. Defaults to TCP.'),
      targetPort: intOrStr("Number or name of the port on the pods. Defaults to port."),
    }, ['port']),
    'core.SessionAffinityConfig': obj('Session affinity settings.', {
      clientIP: ref('core.ClientIPConfig', 'ClientIP affinity settings.'),
    }),
    'core.ClientIPConfig': obj('ClientIP session affinity settings.', {
      timeoutSeconds: int('Sticky session time. Defaults to 10800.'),
    }),
    'core.ServiceStatus': obj('Status of a service.', {
      conditions: keyed(ref('meta.Condition'), ['type'], 'Current state of the service.'),
      loadBalancer: ref('core.LoadBalancerStatus', 'Status of the load balancer, if any.'),
    }),
    'core.LoadBalancerStatus': obj('Status of a load balancer.', {
      ingress: arr(ref('core.LoadBalancerIngress'), 'Ingress points of the load balancer.'),
    }),
    'core.LoadBalancerIngress': obj('An ingress point of a load balancer.', {
      hostname: str('DNS-based ingress point.'),
      ip: str('IP-based ingress point.'),
      ipMode: str('VIP or Proxy.'),
      ports: arr(ref('core.PortStatus'), 'Records of the service ports.'),
    }),
    'core.PortStatus': obj('Status of a service port.', {
      error: str('Problem with the port, if any.'),
      port: int('Port number.'),
      protocol: str('TCP, UDP or SCTP.'),
    }, ['port', 'protocol']),
    'core.Endpoints': kind('v1', 'Endpoints', 'The endpoints that implement a service.', {
      subsets: arr(ref('core.EndpointSubset'), 'Sets of addresses and ports.'),
    }),
    'core.EndpointsList': list('v1', 'core.Endpoints'),
    'core.EndpointSubset': obj('Addresses sharing a set of ports.', {
      addresses: arr(ref('core.EndpointAddress'), 'Ready addresses.'),
      notReadyAddresses: arr(ref('core.EndpointAddress'), 'Addresses not ready yet.'),
      ports: arr(ref('core.EndpointPort'), 'Port numbers available on the addresses.'),
    }),
    'core.EndpointAddress': {
      ...obj('A single IP address of an endpoint.', {
        hostname: str('Hostname of the endpoint.'),
        ip: str('IP of the endpoint.'),
        nodeName: str('Node hosting the endpoint.'),
        targetRef: ref('core.ObjectReference', 'The object providing the endpoint.'),
      }, ['ip']),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.EndpointPort': {
      ...obj('A port of an endpoint.', {
        appProtocol: str('Application protocol of the port.'),
        name: str('Name of the port (the service port name).'),
        port: int('Port number.'),
        protocol: str('TCP, UDP or SCTP. Defaults to TCP.'),
      }, ['port']),
      'x-kubernetes-map-type': 'atomic',
    },
    'core.Event': kind('v1', 'Event', 'A report of an event somewhere in the cluster.', {
      action: str('What action was taken or failed.'),
      count: int('Times this event has occurred.'),
      eventTime: ref('meta.MicroTime', 'When the event was first observed.'),
      firstTimestamp: time('When the event was first recorded.'),
      involvedObject: ref('core.ObjectReference', 'The object this event is about.'),
      lastTimestamp: time('When the event most recently occurred.'),
      message: str('Human-readable description of the event.'),
      reason: str('Short machine-readable reason, such as Scheduled.'),
      related: ref('core.ObjectReference', 'A secondary object.'),
      reportingComponent: str('Controller that emitted the event.'),
      reportingInstance: str('Instance of the controller.'),
      series: ref('core.EventSeries', 'Data about a series of events.'),
      source: ref('core.EventSource', 'Component reporting the event.'),
      type: str('Normal or Warning.'),
    }, ['metadata', 'involvedObject']),
    'core.EventList': list('v1', 'core.Event'),
    'core.EventSource': obj('The source of an event.', {
      component: str('Component the event comes from.'),
      host: str('Node name the event comes from.'),
    }),
    'core.EventSeries': obj('A series of repeated events.', {
      count: int('Occurrences in the series so far.'),
      lastObservedTime: ref('meta.MicroTime', 'Time of the last occurrence.'),
    }),
    'core.ConfigMap': kind('v1', 'ConfigMap', 'Configuration data for pods to consume.', {
      binaryData: map(bytes(), 'Binary data, base64-encoded; keys must not overlap with data.'),
      data: strMap('UTF-8 configuration data.'),
      immutable: bool('If true, the data cannot be updated.'),
    }),
    'core.ConfigMapList': list('v1', 'core.ConfigMap'),
    'core.Secret': kind('v1', 'Secret', 'Secret data of a certain type.', {
      data: map(bytes(), 'Secret data, base64-encoded.'),
      immutable: bool('If true, the data cannot be updated.'),
      stringData: strMap('Write-only convenience: plain values merged into data.'),
      type: str('Type of the secret, such as Opaque or kubernetes.io/tls.'),
    }),
    'core.SecretList': list('v1', 'core.Secret'),
    'core.ServiceAccount': kind('v1', 'ServiceAccount', 'An identity for processes that run in pods, and the tokens they authenticate with.', {
      automountServiceAccountToken: bool('Whether pods running as this service account get an API token mounted.'),
      imagePullSecrets: { ...arr(ref('core.LocalObjectReference'), 'Secrets in the same namespace used to pull the images of pods using this service account.'), 'x-kubernetes-list-type': 'atomic' },
      secrets: { ...arr(ref('core.ObjectReference'), 'Secrets in the same namespace that pods running as this service account may use.'), 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' },
    }),
    'core.ServiceAccountList': list('v1', 'core.ServiceAccount'),
  };
}

// ---- the other groups ----

function otherSchemas(): Record<string, Schema> {
  const selector = (d: string) => ref('meta.LabelSelector', d);
  const template = (d: string) => ref('core.PodTemplateSpec', d);
  return {
    'apps.Deployment': kind('apps/v1', 'Deployment', 'Declarative updates for Pods and ReplicaSets.', {
      spec: spec('apps.DeploymentSpec', 'Deployment'),
      status: status('apps.DeploymentStatus', 'Deployment'),
    }),
    'apps.DeploymentList': list('apps/v1', 'apps.Deployment'),
    'apps.DeploymentSpec': obj('The desired state of a Deployment.', {
      minReadySeconds: int('Seconds a new pod must be ready to count as available.'),
      paused: bool('Pause the rollout.'),
      progressDeadlineSeconds: int('Seconds for the rollout to progress before it is reported failed. Defaults to 600.'),
      replicas: int('Number of desired pods. Defaults to 1.'),
      revisionHistoryLimit: int('Old ReplicaSets kept for rollback. Defaults to 10.'),
      selector: selector('Label selector for the pods; must match the template labels.'),
      strategy: { ...ref('apps.DeploymentStrategy', 'How to replace existing pods with new ones.'), 'x-kubernetes-patch-strategy': 'retainKeys' },
      template: template('Template of the pods to create.'),
    }, ['selector', 'template']),
    'apps.DeploymentStrategy': obj('How to replace existing pods with new ones.', {
      rollingUpdate: ref('apps.RollingUpdateDeployment', 'Rolling update parameters (type RollingUpdate).'),
      type: str('Recreate or RollingUpdate. Defaults to RollingUpdate.'),
    }),
    'apps.RollingUpdateDeployment': obj('Rolling update parameters.', {
      maxSurge: intOrStr('Pods that can be created above the desired count (number or percent). Defaults to 25%.'),
      maxUnavailable: intOrStr('Pods that can be unavailable during the update (number or percent). Defaults to 25%.'),
    }),
    'apps.DeploymentStatus': obj('Most recently observed status of a Deployment.', {
      availableReplicas: int('Pods available (ready for minReadySeconds).'),
      collisionCount: int('Count of hash collisions of the template.'),
      conditions: keyed(ref('apps.DeploymentCondition'), ['type'], 'Latest observations of the state.'),
      observedGeneration: int64('Generation observed by the controller.'),
      readyReplicas: int('Pods with a Ready condition.'),
      replicas: int('Pods targeted by the Deployment.'),
      terminatingReplicas: int('Pods being terminated.'),
      unavailableReplicas: int('Pods still needed for 100% available capacity.'),
      updatedReplicas: int('Pods with the desired template.'),
    }),
    'apps.DeploymentCondition': obj('A condition of a Deployment.', {
      lastTransitionTime: time('Last time the condition changed status.'),
      lastUpdateTime: time('Last time the condition was updated.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('Available, Progressing or ReplicaFailure.'),
    }, ['type', 'status']),
    'apps.ReplicaSet': kind('apps/v1', 'ReplicaSet', 'Ensures a number of pod replicas are running.', {
      spec: spec('apps.ReplicaSetSpec', 'ReplicaSet'),
      status: status('apps.ReplicaSetStatus', 'ReplicaSet'),
    }),
    'apps.ReplicaSetList': list('apps/v1', 'apps.ReplicaSet'),
    'apps.ReplicaSetSpec': obj('The desired state of a ReplicaSet.', {
      minReadySeconds: int('Seconds a new pod must be ready to count as available.'),
      replicas: int('Number of desired pods. Defaults to 1.'),
      selector: selector('Label selector for the pods; must match the template labels.'),
      template: template('Template of the pods to create.'),
    }, ['selector']),
    'apps.ReplicaSetStatus': obj('Most recently observed status of a ReplicaSet.', {
      availableReplicas: int('Pods available (ready for minReadySeconds).'),
      conditions: keyed(ref('apps.ReplicaSetCondition'), ['type'], 'Latest observations of the state.'),
      fullyLabeledReplicas: int('Pods whose labels match the template labels.'),
      observedGeneration: int64('Generation observed by the controller.'),
      readyReplicas: int('Pods with a Ready condition.'),
      replicas: int('Most recently observed number of pods.'),
      terminatingReplicas: int('Pods being terminated.'),
    }, ['replicas']),
    'apps.ReplicaSetCondition': obj('A condition of a ReplicaSet.', {
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('ReplicaFailure.'),
    }, ['type', 'status']),
    'autoscaling.Scale': kind('autoscaling/v1', 'Scale', 'A scaling request for a resource.', {
      spec: spec('autoscaling.ScaleSpec', 'scale'),
      status: status('autoscaling.ScaleStatus', 'scale'),
    }),
    'autoscaling.ScaleSpec': obj('Desired scale.', { replicas: int('Desired number of instances.') }),
    'autoscaling.ScaleStatus': obj('Current scale.', {
      replicas: int('Actual number of instances.'),
      selector: str('Label query over the pods counted, in string form.'),
    }, ['replicas']),
    'policy.Eviction': kind('policy/v1', 'Eviction', 'Evicts a pod, respecting disruption budgets.', {
      deleteOptions: ref('meta.DeleteOptions', 'Options for the deletion of the pod.'),
    }),
    'coordination.Lease': kind('coordination.k8s.io/v1', 'Lease', 'A lease, such as a node heartbeat.', {
      spec: spec('coordination.LeaseSpec', 'Lease'),
    }),
    'coordination.LeaseList': list('coordination.k8s.io/v1', 'coordination.Lease'),
    'coordination.LeaseSpec': obj('Specification of a Lease.', {
      acquireTime: ref('meta.MicroTime', 'When the current holder acquired the lease.'),
      holderIdentity: str('Identity of the current holder.'),
      leaseDurationSeconds: int('Seconds candidates wait after renewTime before taking the lease.'),
      leaseTransitions: int('Number of changes of holder.'),
      preferredHolder: str('Holder to hand the lease to.'),
      renewTime: ref('meta.MicroTime', 'When the holder last renewed the lease.'),
      strategy: str('Strategy for picking a leader.'),
    }),
    'discovery.EndpointSlice': kind('discovery.k8s.io/v1', 'EndpointSlice', 'A subset of the endpoints of a service.', {
      addressType: str('IPv4, IPv6 or FQDN.'),
      endpoints: arr(ref('discovery.Endpoint'), 'Unique endpoints of the slice.'),
      ports: arr(ref('discovery.EndpointPort'), 'Network ports exposed by every endpoint.'),
    }, ['addressType', 'endpoints']),
    'discovery.EndpointSliceList': list('discovery.k8s.io/v1', 'discovery.EndpointSlice'),
    'discovery.Endpoint': obj('One endpoint of a slice.', {
      addresses: strs('Addresses of the endpoint (one is used).'),
      conditions: ref('discovery.EndpointConditions', 'Current conditions of the endpoint.'),
      deprecatedTopology: strMap('Deprecated topology labels.'),
      hints: ref('discovery.EndpointHints', 'Hints for consuming the endpoint.'),
      hostname: str('Hostname of the endpoint.'),
      nodeName: str('Node hosting the endpoint.'),
      targetRef: ref('core.ObjectReference', 'The object providing the endpoint.'),
      zone: str('Zone of the endpoint.'),
    }, ['addresses']),
    'discovery.EndpointConditions': obj('Conditions of an endpoint.', {
      ready: bool('The endpoint is ready for traffic.'),
      serving: bool('The endpoint can serve traffic (even while terminating).'),
      terminating: bool('The endpoint is terminating.'),
    }),
    'discovery.EndpointHints': obj('Hints for consuming an endpoint.', {
      forNodes: arr(ref('discovery.ForNode'), 'Nodes that should consume this endpoint.'),
      forZones: arr(ref('discovery.ForZone'), 'Zones that should consume this endpoint.'),
    }),
    'discovery.ForZone': obj('A zone that should consume an endpoint.', { name: str('Name of the zone.') }, ['name']),
    'discovery.ForNode': obj('A node that should consume an endpoint.', { name: str('Name of the node.') }, ['name']),
    'discovery.EndpointPort': {
      ...obj('A port of an EndpointSlice.', {
        appProtocol: str('Application protocol of the port.'),
        name: str('Name of the port.'),
        port: int('Port number.'),
        protocol: str('TCP, UDP or SCTP. Defaults to TCP.'),
      }),
      'x-kubernetes-map-type': 'atomic',
    },
  };
}

// ---- networking.k8s.io/v1 ----

function networkingSchemas(): Record<string, Schema> {
  const atomic = (s: Schema): Schema => ({ ...s, 'x-kubernetes-list-type': 'atomic' });
  const backend = (d: string) => ref('networking.IngressBackend', d);
  return {
    'networking.Ingress': kind('networking.k8s.io/v1', 'Ingress', 'A collection of rules that let inbound connections reach the endpoints of Services.', {
      spec: spec('networking.IngressSpec', 'Ingress'),
      status: status('networking.IngressStatus', 'Ingress'),
    }),
    'networking.IngressList': list('networking.k8s.io/v1', 'networking.Ingress'),
    'networking.IngressSpec': obj('The desired state of an Ingress.', {
      defaultBackend: backend('Backend of requests no rule matches.'),
      ingressClassName: str('Name of the IngressClass of the controller that implements this Ingress.'),
      rules: atomic(arr(ref('networking.IngressRule'), 'Host rules; requests no rule matches go to the default backend.')),
      tls: atomic(arr(ref('networking.IngressTLS'), 'TLS configuration: hosts and the Secret with their certificate.')),
    }),
    'networking.IngressBackend': obj('Where requests go: a Service port or another resource.', {
      resource: ref('core.TypedLocalObjectReference', 'An object in the Ingress\'s namespace (exclusive with service).'),
      service: ref('networking.IngressServiceBackend', 'A Service as a backend (exclusive with resource).'),
    }),
    'networking.IngressServiceBackend': obj('A Service and port as a backend.', {
      name: str('Name of the Service, in the Ingress\'s namespace.'),
      port: ref('networking.ServiceBackendPort', 'Port of the Service.'),
    }, ['name']),
    'networking.ServiceBackendPort': {
      ...obj('A Service port, by name or number.', {
        name: str('Name of the Service port (exclusive with number).'),
        number: int('Number of the Service port (exclusive with name).'),
      }),
      'x-kubernetes-map-type': 'atomic',
    },
    'networking.IngressRule': obj('Requests for a host (all hosts when empty) and their paths.', {
      host: str('Fully qualified domain name, or a wildcard "*.example.com" matching one label.'),
      http: ref('networking.HTTPIngressRuleValue', 'HTTP paths and their backends.'),
    }),
    'networking.HTTPIngressRuleValue': obj('HTTP paths and their backends.', {
      paths: atomic(arr(ref('networking.HTTPIngressPath'), 'Paths and the backends they go to.')),
    }, ['paths']),
    'networking.HTTPIngressPath': obj('A path and the backend requests for it go to.', {
      backend: backend('Where matching requests go.'),
      path: str("Path matched against the request's path; must begin with '/'."),
      pathType: str('How the path is matched: Exact, Prefix or ImplementationSpecific.'),
    }, ['pathType', 'backend']),
    'networking.IngressTLS': obj('TLS for some hosts.', {
      hosts: atomic(strs('Hosts in the TLS certificate.')),
      secretName: str('Name of the Secret holding the certificate.'),
    }),
    'networking.IngressStatus': obj('The current state of an Ingress.', {
      loadBalancer: ref('networking.IngressLoadBalancerStatus', 'Where the Ingress is reached.'),
    }),
    'networking.IngressLoadBalancerStatus': obj('Where an Ingress is reached.', {
      ingress: atomic(arr(ref('networking.IngressLoadBalancerIngress'), 'Ingress points of the load balancer.')),
    }),
    'networking.IngressLoadBalancerIngress': obj('An ingress point.', {
      hostname: str('DNS-based ingress point.'),
      ip: str('IP-based ingress point.'),
      ports: atomic(arr(ref('networking.IngressPortStatus'), 'Records of the ports.')),
    }),
    'networking.IngressPortStatus': obj('Status of an ingress port.', {
      error: str('Problem with the port, if any.'),
      port: int('Port number.'),
      protocol: str('TCP, UDP or SCTP.'),
    }, ['port', 'protocol']),
    'core.TypedLocalObjectReference': {
      ...obj('A typed reference to an object in the same namespace.', {
        apiGroup: str('API group of the referenced object; empty for the core group.'),
        kind: str('Kind of the referenced object.'),
        name: str('Name of the referenced object.'),
      }, ['kind', 'name']),
      'x-kubernetes-map-type': 'atomic',
    },
    'networking.IngressClass': kind('networking.k8s.io/v1', 'IngressClass', 'The class of Ingresses a controller implements.', {
      spec: spec('networking.IngressClassSpec', 'IngressClass'),
    }),
    'networking.IngressClassList': list('networking.k8s.io/v1', 'networking.IngressClass'),
    'networking.IngressClassSpec': obj('The controller of the class and its parameters.', {
      controller: str('The controller that implements the class, a domain-prefixed path such as "example.com/ingress". Immutable.'),
      parameters: ref('networking.IngressClassParametersReference', 'An object with settings for the controller.'),
    }),
    'networking.IngressClassParametersReference': obj('An object with settings for an ingress controller.', {
      apiGroup: str('API group of the referenced object; empty for the core group.'),
      kind: str('Kind of the referenced object.'),
      name: str('Name of the referenced object.'),
      namespace: str('Namespace of the referenced object, when scope is Namespace.'),
      scope: str('Cluster or Namespace. Defaults to Cluster.'),
    }, ['kind', 'name']),
  };
}

// ---- rbac.authorization.k8s.io/v1 ----

function rbacSchemas(): Record<string, Schema> {
  const atomic = (s: Schema): Schema => ({ ...s, 'x-kubernetes-list-type': 'atomic' });
  const atomicStruct = (s: Schema): Schema => ({ ...s, 'x-kubernetes-map-type': 'atomic' });
  const rules = atomic(arr(ref('rbac.PolicyRule'), 'The PolicyRules of the role.'));
  const roleRef = (d: string) => ref('rbac.RoleRef', d);
  const subjects = atomic(arr(ref('rbac.Subject'), 'The users, groups and service accounts the role is granted to.'));
  const gv = 'rbac.authorization.k8s.io/v1';
  return {
    'rbac.Role': kind(gv, 'Role', 'A namespaced set of PolicyRules, granted by a RoleBinding.', { rules }),
    'rbac.RoleList': list(gv, 'rbac.Role'),
    'rbac.ClusterRole': kind(gv, 'ClusterRole', 'A cluster-level set of PolicyRules, granted by a RoleBinding or ClusterRoleBinding.', {
      aggregationRule: ref('rbac.AggregationRule', 'How to build the rules of this role from those of other ClusterRoles (the controller owns the rules then).'),
      rules,
    }),
    'rbac.ClusterRoleList': list(gv, 'rbac.ClusterRole'),
    'rbac.AggregationRule': obj('How to aggregate ClusterRoles into one.', {
      clusterRoleSelectors: atomic(arr(ref('meta.LabelSelector'), 'Selectors of the ClusterRoles whose rules are gathered (any selector matching).')),
    }),
    'rbac.PolicyRule': obj('Verbs allowed on resources or non-resource URLs.', {
      apiGroups: atomic(strs('API groups of the resources; "" is the core group, "*" any group.')),
      nonResourceURLs: atomic(strs('Partial URLs a user may access, a trailing "*" matching any suffix (ClusterRoles only).')),
      resourceNames: atomic(strs('Names the rule is restricted to; empty means any.')),
      resources: atomic(strs('Resources the rule applies to; "*" all, "*/sub" a subresource of any.')),
      verbs: atomic(strs('Verbs allowed; "*" all.')),
    }, ['verbs']),
    'rbac.RoleBinding': kind(gv, 'RoleBinding', 'Grants the rules of a Role or ClusterRole to subjects within a namespace.', {
      roleRef: roleRef('The Role in this namespace or the ClusterRole granted. Immutable.'),
      subjects,
    }, ['roleRef']),
    'rbac.RoleBindingList': list(gv, 'rbac.RoleBinding'),
    'rbac.ClusterRoleBinding': kind(gv, 'ClusterRoleBinding', 'Grants the rules of a ClusterRole to subjects across the cluster.', {
      roleRef: roleRef('The ClusterRole granted. Immutable.'),
      subjects,
    }, ['roleRef']),
    'rbac.ClusterRoleBindingList': list(gv, 'rbac.ClusterRoleBinding'),
    'rbac.RoleRef': atomicStruct(obj('The role a binding grants.', {
      apiGroup: str('API group of the role: rbac.authorization.k8s.io.'),
      kind: str('Role or ClusterRole.'),
      name: str('Name of the role.'),
    }, ['apiGroup', 'kind', 'name'])),
    'rbac.Subject': atomicStruct(obj('A user, group or service account a role is granted to.', {
      apiGroup: str('"" for ServiceAccount subjects, "rbac.authorization.k8s.io" for User and Group subjects.'),
      kind: str('User, Group or ServiceAccount.'),
      name: str('Name of the subject.'),
      namespace: str('Namespace of a ServiceAccount subject.'),
    }, ['kind', 'name'])),
  };
}

/** Every schema skiff knows, keyed by its full Kubernetes name (io.k8s.api.apps.v1.Deployment, ...). */
export function allSchemas(): Record<string, Schema> {
  const short = {
    ...metaSchemas(), ...podSchemas(), ...coreSchemas(), ...otherSchemas(), ...workloadSchemas(), ...networkingSchemas(), ...networkPolicySchemas(), ...rbacSchemas(),
  };
  return Object.fromEntries(Object.entries(short).map(([name, s]) => [schemaName(name), s]));
}
