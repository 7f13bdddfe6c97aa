// kubectl against a real `skiff serve` for CronJobs: `kubectl create cronjob`, the Jobs its passes
// (every second there) make when it is due, and `kubectl get cronjobs` as kubectl prints it.
import { describe, expect, it } from 'vitest';
import { kubectlSession } from '../helpers/kubectl-session.js';
import { hasKubectl } from '../helpers/skiff-server.js';
import { until } from '../helpers/until.js';

if (!hasKubectl) console.warn('cronjob-kubectl.test.ts: skipped, /usr/bin/kubectl is absent');

describe.skipIf(!hasKubectl)('kubectl and CronJobs', () => {
  const s = kubectlSession();

  it('create cronjob, then get cronjobs: the table, and the Jobs it makes', async () => {
    expect(await s.k('create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/1 * * * *')).toBe('cronjob.batch/tick created\n');
    const table = (await s.k('get', 'cronjobs')).trimEnd().split('\n');
    expect(table[0].split(/\s{2,}/)).toEqual(['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE']);
    expect(table[1].split(/\s{2,}/).slice(0, 6)).toEqual(['tick', '*/1 * * * *', '<none>', 'False', '0', '<none>']);
    const wide = (await s.k('get', 'cj', 'tick', '-o', 'wide')).trimEnd().split('\n');
    expect(wide[0].split(/\s{2,}/).slice(-3)).toEqual(['CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(wide[1].split(/\s{2,}/).slice(-3)).toEqual(['tick', 'busybox', '<none>']);

    // A schedule due a second after creation, so the server's own passes run it without waiting for a minute.
    await s.k('create', 'cronjob', 'often', '--image=busybox', '--schedule=@every 1s', '--', 'true');
    await until('a Job of often', async () => (await s.jsonpath('{.items[*].metadata.ownerReferences[0].name}', 'jobs')).split(' ').includes('often'));
    const row = await until('often with an active Job', async () => {
      const line = (await s.k('get', 'cronjob', 'often', '--no-headers')).trim().split(/\s{2,}/);
      return line[4] !== '0' && line;
    });
    expect(row.slice(0, 4)).toEqual(['often', '@every 1s', '<none>', 'False']);
    expect(row[5]).toMatch(/^\d+s$/);
  });
});
