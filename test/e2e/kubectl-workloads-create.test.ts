// kubectl against a real `skiff serve` for the workload kinds past Deployment: the generators
// (`create job|cronjob|poddisruptionbudget`, `create job --from=cronjob/NAME`, `autoscale`, which
// send protobuf), `explain` of each kind, `apply` of a manifest with all of them (validated with
// fieldValidation=Strict, then re-applied as strategic merge patches and server-side), `rollout
// undo` of a DaemonSet, and the default roles that cover them. What is checked is what the API
// stores, not what the controllers make of it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl, tempDir, type CommandResult } from '../helpers/skiff-server.js';

if (!hasKubectl) console.warn('kubectl-workloads-create.test.ts: skipped, /usr/bin/kubectl is absent');
const KUBECTL_1_33 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';

type Json = any;

const MANIFEST = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: collector, labels: {app: collector}}
spec:
  selector: {matchLabels: {app: collector}}
  minReadySeconds: 5
  revisionHistoryLimit: 4
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 0}}
  template:
    metadata: {labels: {app: collector}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
      nodeSelector: {kubernetes.io/os: linux}
      containers:
      - name: collector
        image: busybox:1.36
        command: [sh, -c, "sleep 3600"]
        env: [{name: MODE, value: edge}]
        resources: {requests: {cpu: 10m, memory: 16Mi}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 5
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 3
  activeDeadlineSeconds: 600
  ttlSecondsAfterFinished: 100
  suspend: true
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes: {containerName: work, operator: In, values: [42]}
    - action: Ignore
      onPodConditions: [{type: DisruptionTarget, status: "True"}]
  successPolicy:
    rules: [{succeededIndexes: "0-2", succeededCount: 2}]
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: busybox:stable
        command: [sh, -c, "echo $JOB_COMPLETION_INDEX"]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  schedule: "@hourly"
  timeZone: Etc/UTC
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 200
  successfulJobsHistoryLimit: 2
  failedJobsHistoryLimit: 1
  suspend: true
  jobTemplate:
    metadata: {labels: {app: report}}
    spec:
      backoffLimit: 1
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox:1.36
            command: [date]
            env: [{name: TZ, value: UTC}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  maxUnavailable: 25%
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchExpressions: [{key: app, operator: In, values: [web]}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 200Mi}}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
      selectPolicy: Max
      policies: [{type: Percent, value: 50, periodSeconds: 60}]
    scaleUp:
      policies: [{type: Pods, value: 2, periodSeconds: 30}]
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
  minReplicas: 1
  maxReplicas: 4
  targetCPUUtilizationPercentage: 70
---
apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: snapshot}
revision: 7
data: {spec: {template: {spec: {containers: [{name: collector, image: "busybox:1.35"}]}}}}
`;

/** The manifest's objects, by kind/version and name. */
const SENT: Json[] = parseAllDocuments(MANIFEST).map((d) => d.toJSON());
const sent = (apiVersion: string, kind: string): Json => SENT.find((o) => o.apiVersion === apiVersion && o.kind === kind);

describe.skipIf(!hasKubectl)('kubectl with the workload kinds (needs /usr/bin/kubectl)', () => {
  const session = kubectlSession();
  const { k, run, apply } = session;
  const get = async (...args: string[]): Promise<Json> => JSON.parse(await k('get', ...args, '-o', 'json'));

  /** Another kubectl binary against the session's server, with a discovery cache of its own. */
  const other = (binary: string, args: string[]): Promise<CommandResult> => new Promise((resolve) => {
    const cache = tempDir('skiff-kubectl-other-');
    execFile(binary, ['--cache-dir', cache, ...args], { env: { ...process.env, KUBECONFIG: session.server.kubeconfig }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

  it('creates Jobs and CronJobs with the generators, --from=cronjob included, and stores what they sent', async () => {
    const ns = 'wc-batch';
    await k('create', 'namespace', ns);
    expect(await k('create', 'job', 'pi', '--image=busybox:1.36', '-n', ns, '--', 'sh', '-c', 'echo 3.14')).toBe('job.batch/pi created\n');
    const job = await get('job', 'pi', '-n', ns);
    expect(job).toMatchObject({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi', namespace: ns } });
    expect(job.spec.template.spec).toMatchObject({
      restartPolicy: 'Never',
      containers: [{ name: 'pi', image: 'busybox:1.36', command: ['sh', '-c', 'echo 3.14'] }],
    });

    expect(await k('create', 'cronjob', 'nightly', '--image=busybox:1.36', '--schedule=0 3 * * *', '--restart=OnFailure', '-n', ns, '--', 'date'))
      .toBe('cronjob.batch/nightly created\n');
    const cron = await get('cronjob', 'nightly', '-n', ns);
    expect(cron.spec).toMatchObject({
      schedule: '0 3 * * *',
      jobTemplate: {
        metadata: { name: 'nightly' },
        spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'nightly', image: 'busybox:1.36', command: ['date'] }] } } },
      },
    });

    expect(await k('create', 'job', 'nightly-now', '--from=cronjob/nightly', '-n', ns)).toBe('job.batch/nightly-now created\n');
    const manual = await get('job', 'nightly-now', '-n', ns);
    expect(manual.metadata.annotations).toMatchObject({ 'cronjob.kubernetes.io/instantiate': 'manual' });
    expect(manual.metadata.ownerReferences).toEqual([
      { apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: cron.metadata.uid, controller: true },
    ]);
    expect(manual.spec.template.spec.containers).toMatchObject([{ name: 'nightly', image: 'busybox:1.36', command: ['date'] }]);
  }, 60_000);

  it('creates PodDisruptionBudgets with numbers and percentages', async () => {
    const ns = 'wc-pdb';
    await k('create', 'namespace', ns);
    expect(await k('create', 'poddisruptionbudget', 'web', '--min-available=1', '--selector=app=web', '-n', ns))
      .toBe('poddisruptionbudget.policy/web created\n');
    expect(await k('create', 'pdb', 'api', '--max-unavailable=50%', '--selector=app=api,tier in (a,b)', '-n', ns))
      .toBe('poddisruptionbudget.policy/api created\n');
    expect((await get('pdb', 'web', '-n', ns)).spec).toMatchObject({ minAvailable: 1, selector: { matchLabels: { app: 'web' } } });
    const api = (await get('pdb', 'api', '-n', ns)).spec;
    expect(api).toMatchObject({
      maxUnavailable: '50%',
      selector: { matchLabels: { app: 'api' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }] },
    });
    expect(api.minAvailable).toBeUndefined();
  }, 60_000);

  it('autoscales a Deployment: autoscaling/v1 from kubectl 1.32, autoscaling/v2 from 1.33', async () => {
    const ns = 'wc-hpa';
    await k('create', 'namespace', ns);
    await k('create', 'deployment', 'web', '--image=nginx:1.27', '-n', ns);
    expect(await k('autoscale', 'deployment', 'web', '--cpu-percent=50', '--min=1', '--max=3', '-n', ns))
      .toBe('horizontalpodautoscaler.autoscaling/web autoscaled\n');
    const v2 = await get('horizontalpodautoscalers.v2.autoscaling', 'web', '-n', ns);
    expect(v2.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      minReplicas: 1,
      maxReplicas: 3,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } } }],
    });
    const v1 = await get('horizontalpodautoscalers.v1.autoscaling', 'web', '-n', ns);
    expect(v1).toMatchObject({ apiVersion: 'autoscaling/v1', spec: { minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 50 } });

    if (!existsSync(KUBECTL_1_33)) return console.warn(`kubectl-workloads-create.test.ts: ${KUBECTL_1_33} is absent, no autoscaling/v2 body sent`);
    const r = await other(KUBECTL_1_33, ['autoscale', 'deployment', 'web', '--cpu-percent=70', '--min=2', '--max=5', '--name=web-v2', '-n', ns, '-v=6']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/verb="POST" url="https:\/\/[^"]+\/apis\/autoscaling\/v2\/namespaces\/wc-hpa\/horizontalpodautoscalers[^"]*" status="201 Created"/);
    expect((await get('hpa', 'web-v2', '-n', ns)).spec).toMatchObject({
      minReplicas: 2,
      maxReplicas: 5,
      metrics: [{ resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    });
  }, 60_000);

  it.each([
    ['daemonset.spec.updateStrategy', 'DaemonSet', 'apps', /FIELD: updateStrategy <DaemonSetUpdateStrategy>/, ['rollingUpdate\t<RollingUpdateDaemonSet>', 'type\t<string>']],
    ['daemonset.spec.updateStrategy.rollingUpdate.maxSurge', 'DaemonSet', 'apps', /FIELD: maxSurge <IntOrString>/, []],
    ['controllerrevision', 'ControllerRevision', 'apps', /KIND:\s+ControllerRevision/, ['data\t<RawExtension>', 'revision\t<integer> -required-']],
    ['job.spec.podFailurePolicy', 'Job', 'batch', /FIELD: podFailurePolicy <PodFailurePolicy>/, ['rules\t<[]PodFailurePolicyRule> -required-']],
    ['job.spec.podFailurePolicy.rules.onExitCodes', 'Job', 'batch', /FIELD: onExitCodes <PodFailurePolicyOnExitCodesRequirement>/, ['values\t<[]integer> -required-']],
    ['job.spec.successPolicy.rules', 'Job', 'batch', /FIELD: rules <\[\]SuccessPolicyRule>/, ['succeededCount\t<integer>', 'succeededIndexes\t<string>']],
    ['cronjob.spec', 'CronJob', 'batch', /FIELD: spec <CronJobSpec>/, ['jobTemplate\t<JobTemplateSpec> -required-', 'schedule\t<string> -required-', 'timeZone\t<string>']],
    ['cronjob.spec.jobTemplate.spec.template.spec.containers.image', 'CronJob', 'batch', /FIELD: image <string>/, []],
    ['pdb.spec', 'PodDisruptionBudget', 'policy', /FIELD: spec <PodDisruptionBudgetSpec>/, ['minAvailable\t<IntOrString>', 'maxUnavailable\t<IntOrString>', 'selector\t<LabelSelector>']],
    // A Time is a string to explain, as kube-apiserver's schema has it.
    ['pdb.status.disruptedPods', 'PodDisruptionBudget', 'policy', /FIELD: disruptedPods <map\[string\]string>/, []],
    ['hpa.spec.behavior', 'HorizontalPodAutoscaler', 'autoscaling', /FIELD: behavior <HorizontalPodAutoscalerBehavior>/, ['scaleDown\t<HPAScalingRules>', 'scaleUp\t<HPAScalingRules>']],
    ['hpa.spec.behavior.scaleUp.policies', 'HorizontalPodAutoscaler', 'autoscaling', /FIELD: policies <\[\]HPAScalingPolicy>/, ['periodSeconds\t<integer> -required-']],
    ['hpa.spec.metrics.resource.target', 'HorizontalPodAutoscaler', 'autoscaling', /FIELD: target <MetricTarget>/, ['averageUtilization\t<integer>', 'type\t<string> -required-']],
  ])('explains %s', async (path, kind, group, field, lines) => {
    const out = await k('explain', path);
    expect(out).toMatch(new RegExp(`GROUP:\\s+${group}\\n`));
    expect(out).toMatch(new RegExp(`KIND:\\s+${kind}\\n`));
    expect(out).toMatch(field);
    for (const line of lines) expect(out).toContain(line);
  }, 30_000);

  it('explains autoscaling/v1 when asked for it', async () => {
    const out = await k('explain', 'hpa.spec', '--api-version=autoscaling/v1');
    expect(out).toMatch(/VERSION:\s+v1\n/);
    expect(out).toContain('targetCPUUtilizationPercentage\t<integer>');
    expect(out).not.toContain('metrics\t');
  }, 30_000);

  it('applies a manifest of every kind with strict validation, and reads each back as sent', async () => {
    const ns = 'wc-apply';
    await k('create', 'namespace', ns);
    const r = await run(['apply', '-n', ns, '--validate=strict', '-f', '-'], MANIFEST);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      'daemonset.apps/collector created',
      'job.batch/batch created',
      'cronjob.batch/report created',
      'poddisruptionbudget.policy/web created',
      'horizontalpodautoscaler.autoscaling/web created',
      'horizontalpodautoscaler.autoscaling/api created',
      'controllerrevision.apps/snapshot created',
    ]);
    const ds = await get('daemonset', 'collector', '-n', ns);
    expect(ds.spec).toMatchObject(sent('apps/v1', 'DaemonSet').spec);
    const job = await get('job', 'batch', '-n', ns);
    expect(job.spec).toMatchObject(sent('batch/v1', 'Job').spec);
    const cron = await get('cronjob', 'report', '-n', ns);
    expect(cron.spec).toMatchObject(sent('batch/v1', 'CronJob').spec);
    expect((await get('pdb', 'web', '-n', ns)).spec).toMatchObject(sent('policy/v1', 'PodDisruptionBudget').spec);
    expect((await get('horizontalpodautoscalers.v2.autoscaling', 'web', '-n', ns)).spec).toMatchObject(sent('autoscaling/v2', 'HorizontalPodAutoscaler').spec);
    expect((await get('horizontalpodautoscalers.v1.autoscaling', 'api', '-n', ns)).spec).toMatchObject(sent('autoscaling/v1', 'HorizontalPodAutoscaler').spec);
    const revision = await get('controllerrevision', 'snapshot', '-n', ns);
    expect(revision).toMatchObject({ revision: 7, data: sent('apps/v1', 'ControllerRevision').data });
  }, 60_000);

  it('re-applies changed templates as strategic merge patches that merge containers by name', async () => {
    const ns = 'wc-apply';
    // Only the images change: kubectl sends {"containers":[{"image":..., "name":...}]} with
    // $setElementOrder, which keeps command and env only if the server merges by name.
    const changed = MANIFEST.replace(/busybox:1\.36/g, 'busybox:1.37');
    const r = await run(['apply', '-n', ns, '--validate=strict', '-f', '-'], changed);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('daemonset.apps/collector configured');
    expect(r.stdout).toContain('cronjob.batch/report configured');
    const ds = (await get('daemonset', 'collector', '-n', ns)).spec.template.spec.containers;
    expect(ds).toMatchObject([{ name: 'collector', image: 'busybox:1.37', command: ['sh', '-c', 'sleep 3600'], env: [{ name: 'MODE', value: 'edge' }] }]);
    const cron = (await get('cronjob', 'report', '-n', ns)).spec.jobTemplate.spec.template.spec.containers;
    expect(cron).toMatchObject([{ name: 'report', image: 'busybox:1.37', command: ['date'], env: [{ name: 'TZ', value: 'UTC' }] }]);
  }, 60_000);

  it('applies every kind server-side, taking over from the client-side apply', async () => {
    const ns = 'wc-apply';
    const changed = MANIFEST.replace(/busybox:1\.36/g, 'busybox:1.38').replace('maxReplicas: 6', 'maxReplicas: 8');
    const r = await run(['apply', '-n', ns, '--server-side', '--force-conflicts', '-f', '-'], changed);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(7);
    expect(r.stdout).toContain('job.batch/batch serverside-applied');
    expect((await get('cronjob', 'report', '-n', ns)).spec.jobTemplate.spec.template.spec.containers)
      .toMatchObject([{ name: 'report', image: 'busybox:1.38', command: ['date'] }]);
    expect((await get('hpa', 'web', '-n', ns)).spec.maxReplicas).toBe(8);
  }, 60_000);

  it('rejects an unknown field anywhere in the new kinds under strict validation, naming its path', async () => {
    const ns = 'wc-apply';
    const bad = MANIFEST.split('---\n').find((d) => d.includes('kind: CronJob'))!.replace('backoffLimit: 1', 'backofLimit: 1');
    const r = await run(['apply', '-n', ns, '--validate=strict', '-f', '-'], bad.replace('name: report', 'name: report-bad'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (BadRequest)');
    expect(r.stderr).toContain('unknown field "spec.jobTemplate.spec.backofLimit"');
    const hpa = 'apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: bad}\nspec:\n  scaleTargetRef: {kind: Deployment, name: web}\n  maxReplicas: 2\n  targetCPUUtilizationPercentage: 50\n';
    const r2 = await run(['apply', '-n', ns, '--validate=strict', '-f', '-'], hpa);
    expect(r2.stderr).toContain('unknown field "spec.targetCPUUtilizationPercentage"');
  }, 60_000);

  it('rolls a DaemonSet back to a ControllerRevision (a strategic merge patch that replaces the template)', async () => {
    const ns = 'wc-undo';
    await k('create', 'namespace', ns);
    await apply(MANIFEST.split('---\n')[0].replace('metadata: {name: collector,', `metadata: {name: collector, namespace: ${ns},`));
    const ds = await get('daemonset', 'collector', '-n', ns);
    // A revision far above any the controller may have written, holding an older template.
    const template = { $patch: 'replace', metadata: { labels: { app: 'collector' } }, spec: { containers: [{ name: 'collector', image: 'busybox:1.35', command: ['sleep', '60'] }] } };
    await apply({
      apiVersion: 'apps/v1',
      kind: 'ControllerRevision',
      metadata: {
        name: 'collector-old',
        namespace: ns,
        labels: { app: 'collector' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'collector', uid: ds.metadata.uid, controller: true }],
      },
      revision: 1000,
      data: { spec: { template } },
    });
    expect(await k('rollout', 'history', 'daemonset/collector', '-n', ns)).toMatch(/^1000\s+<none>$/m);
    expect(await k('rollout', 'undo', 'daemonset/collector', '--to-revision=1000', '-n', ns)).toBe('daemonset.apps/collector rolled back\n');
    const containers = (await get('daemonset', 'collector', '-n', ns)).spec.template.spec.containers;
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({ name: 'collector', image: 'busybox:1.35', command: ['sleep', '60'] });
    expect(containers[0].env).toBeUndefined();
  }, 60_000);

  it('lets the default roles view and edit the new resources as Kubernetes\' bootstrap policy does', async () => {
    const ns = 'wc-rbac';
    await k('create', 'namespace', ns);
    await k('create', 'rolebinding', 'viewer', '--clusterrole=view', '--user=vera', '-n', ns);
    await k('create', 'rolebinding', 'editor', '--clusterrole=edit', '--user=ed', '-n', ns);
    /** `kubectl auth can-i`, RESOURCE/SUBRESOURCE asked with --subresource (a slash alone names an object). */
    const can = async (user: string, verb: string, resource: string) => {
      const [what, subresource] = resource.split('/');
      const r = await run(['auth', 'can-i', verb, what, ...(subresource ? [`--subresource=${subresource}`] : []), '-n', ns, `--as=${user}`]);
      return r.stdout.trim();
    };
    const read = ['daemonsets.apps', 'daemonsets.apps/status', 'controllerrevisions.apps', 'jobs.batch', 'jobs.batch/status',
      'cronjobs.batch', 'cronjobs.batch/status', 'poddisruptionbudgets.policy', 'poddisruptionbudgets.policy/status',
      'horizontalpodautoscalers.autoscaling', 'horizontalpodautoscalers.autoscaling/status'];
    for (const resource of read) {
      expect(await can('vera', 'list', resource), `vera list ${resource}`).toBe('yes');
      expect(await can('ed', 'watch', resource), `ed watch ${resource}`).toBe('yes');
    }
    for (const resource of ['daemonsets.apps', 'jobs.batch', 'cronjobs.batch', 'poddisruptionbudgets.policy', 'horizontalpodautoscalers.autoscaling']) {
      expect(await can('vera', 'create', resource), `vera create ${resource}`).toBe('no');
      expect(await can('ed', 'create', resource), `ed create ${resource}`).toBe('yes');
      expect(await can('ed', 'deletecollection', resource), `ed deletecollection ${resource}`).toBe('yes');
    }
    // Revisions are the controllers' to write; status is the system's.
    expect(await can('ed', 'create', 'controllerrevisions.apps')).toBe('no');
    expect(await can('ed', 'update', 'jobs.batch/status')).toBe('no');
    expect(await can('ed', 'create', 'pods/eviction')).toBe('yes');
    expect(await can('vera', 'create', 'pods/eviction')).toBe('no');
    expect(await can('vera', 'get', 'daemonsets.apps/scale')).toBe('no');
  }, 120_000);
});
