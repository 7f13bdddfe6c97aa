// A pod's volumes as folders on the node: emptyDir, configMap, secret, downwardAPI, projected and
// hostPath. ConfigMap, Secret and downward API contents are written again on every sync, so they
// follow their sources (as kubelet's atomic writer does, each file is replaced by a rename).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fieldValue, resourceValue } from './env.js';
import { RuntimeError, type Mount } from './runtime.js';
import type { Sources } from './sources.js';

export interface VolumeContext {
  pod: any;
  podIP: string;
  hostIP: string;
  allocatable: Record<string, string>;
  sources: Sources;
  /** The pod's folder on the node. */
  podDir: string;
  /** A token of the pod's ServiceAccount (projected serviceAccountToken sources); undefined: none is served. */
  serviceAccountToken?: (audiences: string[], expirationSeconds: number) => Promise<string | undefined>;
}

const mountError = (message: string) => new RuntimeError('ContainerCreating', message);

/** Prepares (or refreshes) every volume; returns each volume's folder by name. */
export async function setUpVolumes(ctx: VolumeContext): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const v of ctx.pod.spec.volumes ?? []) dirs.set(v.name, await setUp(v, ctx));
  return dirs;
}

async function setUp(v: any, ctx: VolumeContext): Promise<string> {
  if (v.hostPath) {
    const type = v.hostPath.type ?? '';
    if (type === 'DirectoryOrCreate') mkdirSync(v.hostPath.path, { recursive: true, mode: 0o755 });
    else if (type === 'FileOrCreate' && !existsSync(v.hostPath.path)) {
      mkdirSync(dirname(v.hostPath.path), { recursive: true });
      writeFileSync(v.hostPath.path, '', { mode: 0o644 });
    } else if ((type === 'Directory' || type === 'File') && !existsSync(v.hostPath.path)) {
      throw mountError(`MountVolume.SetUp failed for volume "${v.name}" : hostPath type check failed: ${v.hostPath.path} is not a ${type.toLowerCase()}`);
    }
    return v.hostPath.path;
  }
  const dir = join(ctx.podDir, 'volumes', v.name);
  if (v.emptyDir?.medium === 'Memory' && existsSync('/dev/shm')) {
    const shm = join('/dev/shm', `skiff-${ctx.pod.metadata.uid}-${v.name}`);
    mkdirSync(shm, { recursive: true, mode: 0o777 });
    return shm;
  }
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  const files = await contents(v, ctx, dir);
  if (files) writeVolumeFiles(dir, files);
  return dir;
}

/** Where a pod's memory-backed emptyDirs live, for removal with the pod. */
export function removeVolumes(pod: any, podDir: string): void {
  for (const v of pod.spec.volumes ?? []) {
    if (v.emptyDir?.medium === 'Memory') rmSync(join('/dev/shm', `skiff-${pod.metadata.uid}-${v.name}`), { recursive: true, force: true });
  }
  rmSync(podDir, { recursive: true, force: true });
}

export interface VolumeFile {
  data: Uint8Array | string;
  mode: number;
}

async function contents(v: any, ctx: VolumeContext, dir: string): Promise<Map<string, VolumeFile> | undefined> {
  if (v.configMap) return keyFiles('configmap', v.configMap, await ctx.sources.configMap(ctx.pod.metadata.namespace, v.configMap.name), v.name);
  if (v.secret) return keyFiles('secret', { ...v.secret, name: v.secret.secretName }, await ctx.sources.secret(ctx.pod.metadata.namespace, v.secret.secretName), v.name);
  if (v.downwardAPI) return downward(v.downwardAPI.items ?? [], v.downwardAPI.defaultMode ?? 0o644, ctx);
  if (v.projected) {
    const all = new Map<string, VolumeFile>();
    const mode = v.projected.defaultMode ?? 0o644;
    for (const s of v.projected.sources ?? []) {
      let part: Map<string, VolumeFile> | undefined;
      if (s.configMap) part = keyFiles('configmap', { defaultMode: mode, ...s.configMap }, await ctx.sources.configMap(ctx.pod.metadata.namespace, s.configMap.name), v.name);
      else if (s.secret) part = keyFiles('secret', { defaultMode: mode, ...s.secret }, await ctx.sources.secret(ctx.pod.metadata.namespace, s.secret.name), v.name);
      else if (s.downwardAPI) part = downward(s.downwardAPI.items ?? [], mode, ctx);
      else if (s.serviceAccountToken) part = new Map([[s.serviceAccountToken.path, { data: await projectedToken(s.serviceAccountToken, v.name, ctx, dir), mode }]]);
      for (const [k, f] of part ?? []) all.set(k, f);
    }
    return all;
  }
  return undefined; // emptyDir and kinds with nothing to write
}

/** A projected serviceAccountToken: a token with its audience and life; the one written before while no new one can be had. */
async function projectedToken(src: any, volume: string, ctx: VolumeContext, dir: string): Promise<string> {
  let failure: string;
  try {
    const token = await ctx.serviceAccountToken?.(src.audience ? [src.audience] : [], src.expirationSeconds ?? 3600);
    if (token) return token;
    failure = 'the control plane serves no ServiceAccount tokens here';
  } catch (err) {
    failure = (err as Error).message;
  }
  const written = join(dir, String(src.path));
  if (!relative(dir, written).startsWith('..') && existsSync(written)) return readFileSync(written, 'utf8');
  throw mountError(`MountVolume.SetUp failed for volume "${volume}" : ${failure}`);
}

function keyFiles(kind: 'configmap' | 'secret', ref: any, obj: any, volume: string): Map<string, VolumeFile> {
  const files = new Map<string, VolumeFile>();
  if (!obj) {
    if (ref.optional) return files;
    throw mountError(`MountVolume.SetUp failed for volume "${volume}" : ${kind} "${ref.name}" not found`);
  }
  const values = new Map<string, Uint8Array | string>();
  for (const [k, v] of Object.entries(obj.data ?? {})) values.set(k, kind === 'secret' ? Buffer.from(String(v), 'base64') : String(v));
  for (const [k, v] of Object.entries(obj.binaryData ?? {})) values.set(k, Buffer.from(String(v), 'base64'));
  const defaultMode = ref.defaultMode ?? 0o644;
  if (ref.items?.length) {
    for (const item of ref.items) {
      const data = values.get(item.key);
      if (data === undefined) {
        if (ref.optional) continue;
        throw mountError(`MountVolume.SetUp failed for volume "${volume}" : configmap references non-existent config key: ${item.key}`);
      }
      files.set(item.path, { data, mode: item.mode ?? defaultMode });
    }
  } else {
    for (const [k, data] of values) files.set(k, { data, mode: defaultMode });
  }
  return files;
}

function downward(items: any[], defaultMode: number, ctx: VolumeContext): Map<string, VolumeFile> {
  const files = new Map<string, VolumeFile>();
  for (const item of items) {
    const container = (ctx.pod.spec.containers ?? []).find((c: any) => c.name === item.resourceFieldRef?.containerName) ?? ctx.pod.spec.containers?.[0];
    const data = item.fieldRef ? fieldValue(item.fieldRef.fieldPath, ctx) : resourceValue(item.resourceFieldRef, container, ctx.allocatable);
    files.set(item.path, { data, mode: item.mode ?? defaultMode });
  }
  return files;
}

/** Writes changed files by rename (a reader sees the old file or the new, never half of one), and removes those no longer projected. */
export function writeVolumeFiles(dir: string, files: Map<string, VolumeFile>): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [path, file] of files) {
    const target = join(dir, path);
    if (relative(dir, target).startsWith('..')) continue; // validation forbids it; never write outside
    const data = typeof file.data === 'string' ? Buffer.from(file.data) : file.data;
    mkdirSync(dirname(target), { recursive: true });
    if (existsSync(target) && Buffer.compare(readFileSync(target), data) === 0) {
      if ((statSync(target).mode & 0o777) !== file.mode) chmodSync(target, file.mode);
      continue;
    }
    writeFileSync(target + '.skiff-tmp', data, { mode: file.mode });
    chmodSync(target + '.skiff-tmp', file.mode);
    renameSync(target + '.skiff-tmp', target);
  }
  for (const name of listFiles(dir)) if (!files.has(name)) rmSync(join(dir, name), { force: true });
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** A container's mounts, with subPath applied. */
export function containerMounts(container: any, dirs: Map<string, string>): Mount[] {
  return (container.volumeMounts ?? []).flatMap((m: any) => {
    const dir = dirs.get(m.name);
    if (!dir) return [];
    const hostPath = m.subPath ? join(dir, m.subPath) : dir;
    if (m.subPath && !existsSync(hostPath)) mkdirSync(hostPath, { recursive: true });
    return [{ hostPath, containerPath: m.mountPath, readOnly: !!m.readOnly }];
  });
}
