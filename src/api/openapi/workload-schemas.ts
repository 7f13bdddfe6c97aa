// The OpenAPI schemas of the workload kinds past Deployment and ReplicaSet: apps/v1 DaemonSet and
// ControllerRevision, batch/v1 Job and CronJob, policy/v1 PodDisruptionBudget, and
// HorizontalPodAutoscaler in autoscaling/v2 and autoscaling/v1. Fields, required lists and list
// directives follow k8s.io/api's types; descriptions are shortened to one line.
import {
  arr, atomicList, bool, int, int64, intOrStr, keyed, kind, list, map, mergedAtomic, obj, ref, setList,
  spec, status, str, strs, time, type Schema,
} from './dsl.js';

const selector = (d: string) => ref('meta.LabelSelector', d);
const template = (d: string) => ref('core.PodTemplateSpec', d);

function appsSchemas(): Record<string, Schema> {
  return {
    'apps.DaemonSet': kind('apps/v1', 'DaemonSet', 'Runs a copy of a pod on every eligible node.', {
      spec: spec('apps.DaemonSetSpec', 'DaemonSet'),
      status: status('apps.DaemonSetStatus', 'DaemonSet'),
    }),
    'apps.DaemonSetList': list('apps/v1', 'apps.DaemonSet'),
    'apps.DaemonSetSpec': obj('The desired state of a DaemonSet.', {
      minReadySeconds: int('Seconds a new pod must be ready to count as available. Defaults to 0.'),
      revisionHistoryLimit: int('Old ControllerRevisions kept for rollback. Defaults to 10.'),
      selector: selector('Label selector for the pods; must match the template labels.'),
      template: template('Template of the pods to create, one per eligible node.'),
      updateStrategy: ref('apps.DaemonSetUpdateStrategy', 'How to replace existing pods with new ones.'),
    }, ['selector', 'template']),
    'apps.DaemonSetUpdateStrategy': obj('How a DaemonSet replaces its pods.', {
      rollingUpdate: ref('apps.RollingUpdateDaemonSet', 'Rolling update parameters (type RollingUpdate).'),
      type: str('RollingUpdate or OnDelete. Defaults to RollingUpdate.'),
    }),
    'apps.RollingUpdateDaemonSet': obj('Rolling update parameters of a DaemonSet.', {
      maxSurge: intOrStr('Nodes that may run an updated pod next to the old one during the update (number or percent). Defaults to 0.'),
      maxUnavailable: intOrStr('Nodes whose pod may be unavailable during the update (number or percent). Defaults to 1.'),
    }),
    'apps.DaemonSetStatus': obj('Most recently observed status of a DaemonSet.', {
      collisionCount: int('Count of hash collisions of the template.'),
      conditions: keyed(ref('apps.DaemonSetCondition'), ['type'], 'Latest observations of the state.'),
      currentNumberScheduled: int('Nodes running at least one daemon pod and meant to.'),
      desiredNumberScheduled: int('Nodes that should run the daemon pod.'),
      numberAvailable: int('Nodes running a daemon pod available for minReadySeconds.'),
      numberMisscheduled: int('Nodes running the daemon pod but not meant to.'),
      numberReady: int('Nodes running a ready daemon pod.'),
      numberUnavailable: int('Nodes that should run the daemon pod but have none available.'),
      observedGeneration: int64('Generation observed by the controller.'),
      updatedNumberScheduled: int('Nodes running the updated daemon pod.'),
    }, ['currentNumberScheduled', 'numberMisscheduled', 'desiredNumberScheduled', 'numberReady']),
    'apps.DaemonSetCondition': obj('A condition of a DaemonSet.', {
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('Type of DaemonSet condition.'),
    }, ['type', 'status']),
    'apps.ControllerRevision': kind('apps/v1', 'ControllerRevision', 'An immutable snapshot of state data, kept for rollback.', {
      data: ref('runtime.RawExtension', 'The serialized state: for a DaemonSet, a patch of its pod template.'),
      revision: int64('The revision number of the state in data.'),
    }, ['revision']),
    'apps.ControllerRevisionList': list('apps/v1', 'apps.ControllerRevision'),
  };
}

function batchSchemas(): Record<string, Schema> {
  const gv = 'batch/v1';
  return {
    'batch.Job': kind(gv, 'Job', 'A job: pods run until a number of them complete.', {
      spec: spec('batch.JobSpec', 'job'),
      status: status('batch.JobStatus', 'job'),
    }),
    'batch.JobList': list(gv, 'batch.Job'),
    'batch.JobSpec': obj('How a job runs.', {
      activeDeadlineSeconds: int64('Seconds the job may be active (from startTime) before its pods are ended and it fails.'),
      backoffLimit: int('Retries before the job is marked failed. Defaults to 6.'),
      backoffLimitPerIndex: int('Retries of each index before it is marked failed (Indexed jobs).'),
      completionMode: str('NonIndexed (the default) or Indexed: each pod gets a completion index 0..completions-1.'),
      completions: int('Successful pods the job needs; unset means any one success finishes it.'),
      managedBy: str('The controller that manages the job; unset or kubernetes.io/job-controller for the built-in one.'),
      manualSelector: bool('Take spec.selector as given instead of generating one. Leave unset.'),
      maxFailedIndexes: int('Failed indexes beyond which the whole job fails, with backoffLimitPerIndex.'),
      parallelism: int('Most pods running at any time. Defaults to 1.'),
      podFailurePolicy: ref('batch.PodFailurePolicy', 'How failed pods count against backoffLimit, by exit codes and pod conditions.'),
      podReplacementPolicy: str('When a replacement pod is created: TerminatingOrFailed or Failed.'),
      selector: selector('Label query over the pods of the job. Normally set by the system.'),
      successPolicy: ref('batch.SuccessPolicy', 'When the job counts as succeeded before all completions (Indexed jobs).'),
      suspend: bool('Whether the controller should create pods; suspending deletes active pods.'),
      template: template('Template of the pods to run; restartPolicy must be Never or OnFailure.'),
      ttlSecondsAfterFinished: int('Seconds after finishing (Complete or Failed) before the job is deleted.'),
    }, ['template']),
    'batch.PodFailurePolicy': obj('How failed pods influence backoffLimit.', {
      rules: atomicList(arr(ref('batch.PodFailurePolicyRule'), 'Rules, tried in order; the first that matches a failure decides.')),
    }, ['rules']),
    'batch.PodFailurePolicyRule': obj('How a pod failure is handled when its requirement is met (onExitCodes or onPodConditions).', {
      action: str('FailJob, FailIndex, Ignore or Count.'),
      onExitCodes: ref('batch.PodFailurePolicyOnExitCodesRequirement', 'Requirement on the container exit codes.'),
      onPodConditions: atomicList(arr(ref('batch.PodFailurePolicyOnPodConditionsPattern'), 'Pod condition patterns; any one matching meets the requirement.')),
    }, ['action']),
    'batch.PodFailurePolicyOnExitCodesRequirement': obj('A requirement on the exit codes of failed containers.', {
      containerName: str('The container whose exit codes are checked; all containers when unset.'),
      operator: str('In or NotIn: how the exit codes relate to values.'),
      values: setList(arr(int(), 'Exit codes, sorted; 0 may not appear (In).')),
    }, ['operator', 'values']),
    'batch.PodFailurePolicyOnPodConditionsPattern': obj('A pattern that matches a pod condition.', {
      status: str('Required status of the condition. Defaults to True.'),
      type: str('Required type of the condition, such as DisruptionTarget.'),
    }, ['type']),
    'batch.SuccessPolicy': obj('When a job succeeds on the success of some indexes.', {
      rules: atomicList(arr(ref('batch.SuccessPolicyRule'), 'Rules; the first met adds SuccessCriteriaMet and ends the job.')),
    }, ['rules']),
    'batch.SuccessPolicyRule': obj('A rule declaring a job succeeded: succeededIndexes, succeededCount or both.', {
      succeededCount: int('Least number of indexes (of succeededIndexes if set) that must have succeeded.'),
      succeededIndexes: str('Indexes that must all have succeeded, such as "1,3-5".'),
    }),
    'batch.JobStatus': obj('The current state of a job.', {
      active: int('Pending and running pods, not terminating.'),
      completedIndexes: str('Completed indexes of an Indexed job, such as "1,3-5".'),
      completionTime: time('When the job completed.'),
      conditions: mergedAtomic(ref('batch.JobCondition'), 'type', 'Latest observations: Complete, Failed, Suspended, ...'),
      failed: int('Pods that reached phase Failed.'),
      failedIndexes: str('Failed indexes, with backoffLimitPerIndex.'),
      ready: int('Active pods with a Ready condition.'),
      startTime: time('When the job controller started processing the job.'),
      succeeded: int('Pods that reached phase Succeeded.'),
      terminating: int('Pods being terminated.'),
      uncountedTerminatedPods: ref('batch.UncountedTerminatedPods', 'UIDs of terminated pods not yet counted in the status.'),
    }),
    'batch.UncountedTerminatedPods': obj('Terminated pods not yet counted in the job status.', {
      failed: setList(strs('UIDs of failed pods.')),
      succeeded: setList(strs('UIDs of succeeded pods.')),
    }),
    'batch.JobCondition': obj('A condition of a job.', {
      lastProbeTime: time('Last time the condition was checked.'),
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('Complete, Failed, Suspended, FailureTarget or SuccessCriteriaMet.'),
    }, ['type', 'status']),
    'batch.JobTemplateSpec': obj('The job a CronJob creates.', {
      metadata: ref('meta.ObjectMeta', 'Metadata of the jobs created from this template.'),
      spec: spec('batch.JobSpec', 'job'),
    }),
    'batch.CronJob': kind(gv, 'CronJob', 'A job run on a schedule.', {
      spec: spec('batch.CronJobSpec', 'cron job, including the schedule'),
      status: status('batch.CronJobStatus', 'cron job'),
    }),
    'batch.CronJobList': list(gv, 'batch.CronJob'),
    'batch.CronJobSpec': obj('When and how a cron job runs its jobs.', {
      concurrencyPolicy: str('Allow (the default), Forbid or Replace: what to do when a run is due while the last is active.'),
      failedJobsHistoryLimit: int('Failed finished jobs to keep. Defaults to 1.'),
      jobTemplate: ref('batch.JobTemplateSpec', 'The job created at each run.'),
      schedule: str('The schedule in cron format, such as "*/5 * * * *" or "@hourly".'),
      startingDeadlineSeconds: int64('Seconds after its time a missed run may still start; later, it counts as missed.'),
      successfulJobsHistoryLimit: int('Successful finished jobs to keep. Defaults to 3.'),
      suspend: bool('Suspend later runs (not those already started). Defaults to false.'),
      timeZone: str('Time zone of the schedule, a tz database name; the controller\'s when unset.'),
    }, ['schedule', 'jobTemplate']),
    'batch.CronJobStatus': obj('The current state of a cron job.', {
      active: atomicList(arr(ref('core.ObjectReference'), 'The jobs running now.')),
      lastScheduleTime: time('When a job was last scheduled.'),
      lastSuccessfulTime: time('When a job last completed successfully.'),
    }),
  };
}

function policySchemas(): Record<string, Schema> {
  const gv = 'policy/v1';
  return {
    'policy.PodDisruptionBudget': kind(gv, 'PodDisruptionBudget', 'The most disruption allowed to a collection of pods.', {
      spec: spec('policy.PodDisruptionBudgetSpec', 'PodDisruptionBudget'),
      status: status('policy.PodDisruptionBudgetStatus', 'PodDisruptionBudget'),
    }),
    'policy.PodDisruptionBudgetList': list(gv, 'policy.PodDisruptionBudget'),
    'policy.PodDisruptionBudgetSpec': obj('The pods a budget covers and how many must stay up.', {
      maxUnavailable: intOrStr('Most selected pods that may be unavailable after an eviction (number or percent). Exclusive with minAvailable.'),
      minAvailable: intOrStr('Least selected pods that must stay available after an eviction (number or percent).'),
      selector: { ...selector('The pods the budget covers; an empty selector selects every pod of the namespace.'), 'x-kubernetes-patch-strategy': 'replace' },
      unhealthyPodEvictionPolicy: str('IfHealthyBudget or AlwaysAllow: when running but unready pods may be evicted.'),
    }),
    'policy.PodDisruptionBudgetStatus': obj('The observed state of a budget.', {
      conditions: keyed(ref('meta.Condition'), ['type'], 'Conditions, such as DisruptionAllowed.'),
      currentHealthy: int('Healthy pods now.'),
      desiredHealthy: int('Least number of healthy pods wanted.'),
      disruptedPods: map(time(), 'Pods whose eviction was granted but not yet seen, with the time it was granted.'),
      disruptionsAllowed: int('Pod disruptions allowed now.'),
      expectedPods: int('Pods the budget counts.'),
      observedGeneration: int64('Generation observed when the status was written.'),
    }, ['disruptionsAllowed', 'currentHealthy', 'desiredHealthy', 'expectedPods']),
  };
}

function autoscalingV2Schemas(): Record<string, Schema> {
  const gv = 'autoscaling/v2';
  const target = (d: string) => ref('autoscalingv2.MetricTarget', d);
  const current = (d: string) => ref('autoscalingv2.MetricValueStatus', d);
  const metric = (d: string) => ref('autoscalingv2.MetricIdentifier', d);
  const objectRef = (d: string) => ref('autoscalingv2.CrossVersionObjectReference', d);
  const rules = (d: string) => ref('autoscalingv2.HPAScalingRules', d);
  return {
    'autoscalingv2.HorizontalPodAutoscaler': kind(gv, 'HorizontalPodAutoscaler', 'Scales a resource with a scale subresource on the metrics given.', {
      spec: spec('autoscalingv2.HorizontalPodAutoscalerSpec', 'autoscaler'),
      status: status('autoscalingv2.HorizontalPodAutoscalerStatus', 'autoscaler'),
    }),
    'autoscalingv2.HorizontalPodAutoscalerList': list(gv, 'autoscalingv2.HorizontalPodAutoscaler'),
    'autoscalingv2.HorizontalPodAutoscalerSpec': obj('What an autoscaler scales, within which bounds, on which metrics.', {
      behavior: ref('autoscalingv2.HorizontalPodAutoscalerBehavior', 'How fast to scale up and down; the defaults when unset.'),
      maxReplicas: int('Upper bound of the replicas; not below minReplicas.'),
      metrics: atomicList(arr(ref('autoscalingv2.MetricSpec'), 'Metrics to scale on; the largest replica count they ask wins. Defaults to 80% average CPU.')),
      minReplicas: int('Lower bound of the replicas. Defaults to 1.'),
      scaleTargetRef: objectRef('The resource scaled: its scale subresource is read and written.'),
    }, ['scaleTargetRef', 'maxReplicas']),
    'autoscalingv2.CrossVersionObjectReference': obj('Identifies a resource across versions.', {
      apiVersion: str('API version of the referent.'),
      kind: str('Kind of the referent.'),
      name: str('Name of the referent.'),
    }, ['kind', 'name']),
    'autoscalingv2.HorizontalPodAutoscalerBehavior': obj('Scaling behavior up and down.', {
      scaleDown: rules('Rules for scaling down. Defaults: a 300 s window, down to minReplicas at once (100% per 15 s).'),
      scaleUp: rules('Rules for scaling up. Defaults: no window, the larger of 4 pods or 100% per 15 s.'),
    }),
    'autoscalingv2.HPAScalingRules': obj('Rules for scaling in one direction.', {
      policies: atomicList(arr(ref('autoscalingv2.HPAScalingPolicy'), 'Policies limiting each change; selectPolicy picks one.')),
      selectPolicy: str('Max (the default), Min or Disabled: which policy applies.'),
      stabilizationWindowSeconds: int('Seconds of past recommendations considered, to stop flapping (0-3600).'),
      tolerance: ref('resource.Quantity', 'Relative distance from the target within which no scaling happens. Defaults to 0.1.'),
    }),
    'autoscalingv2.HPAScalingPolicy': obj('One change allowed within a period.', {
      periodSeconds: int('Window of time the policy holds over (1-1800 s).'),
      type: str('Pods or Percent.'),
      value: int('The amount of change allowed; above zero.'),
    }, ['type', 'value', 'periodSeconds']),
    'autoscalingv2.MetricSpec': obj('A metric to scale on: type names the one source set.', {
      containerResource: ref('autoscalingv2.ContainerResourceMetricSource', 'A resource of one container of each pod, such as cpu.'),
      external: ref('autoscalingv2.ExternalMetricSource', 'A metric not tied to any Kubernetes object.'),
      object: ref('autoscalingv2.ObjectMetricSource', 'A metric of one Kubernetes object.'),
      pods: ref('autoscalingv2.PodsMetricSource', 'A metric of each pod, averaged.'),
      resource: ref('autoscalingv2.ResourceMetricSource', 'A resource of each pod (requests and limits), such as cpu.'),
      type: str('Object, Pods, Resource, ContainerResource or External.'),
    }, ['type']),
    'autoscalingv2.ResourceMetricSource': obj('A resource metric of each pod.', {
      name: str('The resource: cpu or memory.'),
      target: target('The target value, average value or average utilization.'),
    }, ['name', 'target']),
    'autoscalingv2.ContainerResourceMetricSource': obj('A resource metric of one container of each pod.', {
      container: str('Name of the container in the pods of the target.'),
      name: str('The resource: cpu or memory.'),
      target: target('The target value, average value or average utilization.'),
    }, ['name', 'target', 'container']),
    'autoscalingv2.PodsMetricSource': obj('A metric of each pod, averaged and compared to the target.', {
      metric: metric('The metric, by name and selector.'),
      target: target('The target value (AverageValue only).'),
    }, ['metric', 'target']),
    'autoscalingv2.ObjectMetricSource': obj('A metric of one Kubernetes object.', {
      describedObject: objectRef('The object the metric describes.'),
      metric: metric('The metric, by name and selector.'),
      target: target('The target value or average value.'),
    }, ['describedObject', 'target', 'metric']),
    'autoscalingv2.ExternalMetricSource': obj('A metric from outside the cluster.', {
      metric: metric('The metric, by name and selector.'),
      target: target('The target value or average value.'),
    }, ['metric', 'target']),
    'autoscalingv2.MetricIdentifier': obj('A metric by name and selector.', {
      name: str('Name of the metric.'),
      selector: selector('Labels narrowing down the metric; unset means the name alone.'),
    }, ['name']),
    'autoscalingv2.MetricTarget': obj('The target of a metric.', {
      averageUtilization: int('Target average of the resource over the pods, in percent of their requests (type Utilization).'),
      averageValue: ref('resource.Quantity', 'Target average of the metric over the pods (type AverageValue).'),
      type: str('Utilization, Value or AverageValue.'),
      value: ref('resource.Quantity', 'Target value of the metric (type Value).'),
    }, ['type']),
    'autoscalingv2.HorizontalPodAutoscalerStatus': obj('The current state of an autoscaler.', {
      conditions: keyed(ref('autoscalingv2.HorizontalPodAutoscalerCondition'), ['type'], 'Whether the autoscaler can scale, and whether it is limited: AbleToScale, ScalingActive, ScalingLimited.'),
      currentMetrics: atomicList(arr(ref('autoscalingv2.MetricStatus'), 'The last values read of the metrics.')),
      currentReplicas: int('Replicas of the target as last seen.'),
      desiredReplicas: int('Replicas the autoscaler last wanted.'),
      lastScaleTime: time('When the autoscaler last scaled the target.'),
      observedGeneration: int64('Generation observed by the autoscaler.'),
    }, ['desiredReplicas']),
    'autoscalingv2.HorizontalPodAutoscalerCondition': obj('A condition of an autoscaler.', {
      lastTransitionTime: time('Last time the condition changed status.'),
      message: str('Human-readable details.'),
      observedGeneration: int64('Generation the condition was set from.'),
      reason: str('CamelCase reason for the last transition.'),
      status: str('True, False or Unknown.'),
      type: str('AbleToScale, ScalingActive or ScalingLimited.'),
    }, ['type', 'status']),
    'autoscalingv2.MetricStatus': obj('The last value read of a metric: type names the one source set.', {
      containerResource: ref('autoscalingv2.ContainerResourceMetricStatus', 'A container resource metric.'),
      external: ref('autoscalingv2.ExternalMetricStatus', 'An external metric.'),
      object: ref('autoscalingv2.ObjectMetricStatus', 'An object metric.'),
      pods: ref('autoscalingv2.PodsMetricStatus', 'A per-pod metric.'),
      resource: ref('autoscalingv2.ResourceMetricStatus', 'A resource metric.'),
      type: str('Object, Pods, Resource, ContainerResource or External.'),
    }, ['type']),
    'autoscalingv2.ResourceMetricStatus': obj('The current value of a resource metric.', {
      current: current('The current value.'),
      name: str('The resource: cpu or memory.'),
    }, ['name', 'current']),
    'autoscalingv2.ContainerResourceMetricStatus': obj('The current value of a container resource metric.', {
      container: str('Name of the container.'),
      current: current('The current value.'),
      name: str('The resource: cpu or memory.'),
    }, ['name', 'current', 'container']),
    'autoscalingv2.PodsMetricStatus': obj('The current value of a per-pod metric.', {
      current: current('The current value.'),
      metric: metric('The metric, by name and selector.'),
    }, ['metric', 'current']),
    'autoscalingv2.ObjectMetricStatus': obj('The current value of an object metric.', {
      current: current('The current value.'),
      describedObject: objectRef('The object the metric describes.'),
      metric: metric('The metric, by name and selector.'),
    }, ['metric', 'current', 'describedObject']),
    'autoscalingv2.ExternalMetricStatus': obj('The current value of an external metric.', {
      current: current('The current value.'),
      metric: metric('The metric, by name and selector.'),
    }, ['metric', 'current']),
    'autoscalingv2.MetricValueStatus': obj('A current value of a metric.', {
      averageUtilization: int('Current average of the resource over the pods, in percent of their requests.'),
      averageValue: ref('resource.Quantity', 'Current average of the metric over the pods.'),
      value: ref('resource.Quantity', 'Current value of the metric.'),
    }),
  };
}

// autoscaling/v1 keeps only a CPU target; the v2 fields travel in annotations there.
function autoscalingV1Schemas(): Record<string, Schema> {
  const gv = 'autoscaling/v1';
  return {
    'autoscaling.HorizontalPodAutoscaler': kind(gv, 'HorizontalPodAutoscaler', 'Scales a resource with a scale subresource on average CPU utilization.', {
      spec: spec('autoscaling.HorizontalPodAutoscalerSpec', 'autoscaler'),
      status: status('autoscaling.HorizontalPodAutoscalerStatus', 'autoscaler'),
    }),
    'autoscaling.HorizontalPodAutoscalerList': list(gv, 'autoscaling.HorizontalPodAutoscaler'),
    'autoscaling.HorizontalPodAutoscalerSpec': obj('What an autoscaler scales, within which bounds, on which CPU target.', {
      maxReplicas: int('Upper bound of the replicas; not below minReplicas.'),
      minReplicas: int('Lower bound of the replicas. Defaults to 1.'),
      scaleTargetRef: ref('autoscaling.CrossVersionObjectReference', 'The resource scaled: its scale subresource is read and written.'),
      targetCPUUtilizationPercentage: int('Target average CPU of the pods, in percent of their requests. Defaults to 80.'),
    }, ['scaleTargetRef', 'maxReplicas']),
    'autoscaling.CrossVersionObjectReference': {
      ...obj('Identifies a resource across versions.', {
        apiVersion: str('API version of the referent.'),
        kind: str('Kind of the referent.'),
        name: str('Name of the referent.'),
      }, ['kind', 'name']),
      'x-kubernetes-map-type': 'atomic',
    },
    'autoscaling.HorizontalPodAutoscalerStatus': obj('The current state of an autoscaler.', {
      currentCPUUtilizationPercentage: int('Current average CPU of the pods, in percent of their requests.'),
      currentReplicas: int('Replicas of the target as last seen.'),
      desiredReplicas: int('Replicas the autoscaler last wanted.'),
      lastScaleTime: time('When the autoscaler last scaled the target.'),
      observedGeneration: int64('Generation observed by the autoscaler.'),
    }, ['currentReplicas', 'desiredReplicas']),
  };
}

export function workloadSchemas(): Record<string, Schema> {
  return { ...appsSchemas(), ...batchSchemas(), ...policySchemas(), ...autoscalingV2Schemas(), ...autoscalingV1Schemas() };
}
