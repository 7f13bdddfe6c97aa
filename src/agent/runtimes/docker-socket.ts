// Where the Docker Engine API answers, and whether it does: kept apart from docker.ts so that
// `--runtime auto` on a machine without Docker never loads dockerode (some 25 MB of the agent's memory).
import { existsSync } from 'node:fs';
import { request } from 'node:http';

/** The socket DOCKER_HOST names when it is unix://, else the default. */
export function defaultDockerSocket(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** Whether a Docker Engine (or Podman's Docker-compatible service) answers /_ping on the socket. */
export function dockerAnswers(socketPath: string = defaultDockerSocket(), timeoutMs = 2000): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((done) => {
    const req = request({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(false));
    req.end();
  });
}
