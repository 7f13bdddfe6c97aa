import type { KindDef, KObject } from '../kinds/types.js';
import { badRequest } from './status.js';

// Label and field selectors: parsed once, matched in JS (watch events) and as SQL (lists).

export type LabelRequirement =
  | { key: string; op: 'exists' | '!exists' }
  | { key: string; op: '=' | '!='; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'gt' | 'lt'; value: number };

const KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, sel: string): string {
  if (!KEY.test(key) || key.length > 316) throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${sel}"`);
  return key;
}

function checkValue(value: string, sel: string): string {
  if (!VALUE.test(value) || value.length > 63) throw badRequest(`unable to parse requirement: invalid label value: "${value}" in selector "${sel}"`);
  return value;
}

/** Split on commas that are not inside parentheses. */
function splitTerms(sel: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < sel.length; i++) {
    if (sel[i] === '(') depth++;
    else if (sel[i] === ')') depth--;
    else if (sel[i] === ',' && depth === 0) {
      terms.push(sel.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(sel.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(sel: string | undefined): LabelRequirement[] {
  if (!sel) return [];
  return splitTerms(sel).map((term): LabelRequirement => {
    let m = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (m) {
      const values = m[3].split(',').map((v) => checkValue(v.trim(), sel));
      return { key: checkKey(m[1], sel), op: m[2] as 'in' | 'notin', values };
    }
    if (term.startsWith('!')) return { key: checkKey(term.slice(1).trim(), sel), op: '!exists' };
    m = /^([^=!<>\s]+)\s*(==|=|!=|<|>)\s*(\S*)$/.exec(term);
    if (m) {
      const key = checkKey(m[1], sel);
      if (m[2] === '<' || m[2] === '>') {
        const value = Number(m[3]);
        if (!/^-?\d+$/.test(m[3])) throw badRequest(`unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer in selector "${sel}"`);
        return { key, op: m[2] === '>' ? 'gt' : 'lt', value };
      }
      return { key, op: m[2] === '!=' ? '!=' : '=', value: checkValue(m[3], sel) };
    }
    if (/^\S+$/.test(term)) return { key: checkKey(term, sel), op: 'exists' };
    throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt in selector "${sel}"`);
  });
}

export function matchLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists': return has;
      case '!exists': return !has;
      case '=': return has && v === r.value;
      case '!=': return !has || v !== r.value;
      case 'in': return has && r.values.includes(v);
      case 'notin': return !has || !r.values.includes(v);
      case 'gt': return has && /^-?\d+$/.test(v) && Number(v) > r.value;
      case 'lt': return has && /^-?\d+$/.test(v) && Number(v) < r.value;
    }
  });
}

/** SQL conditions over objects.object for the requirements SQL can check exactly. */
export function labelSql(reqs: LabelRequirement[]): { sql: string; args: (string | number)[] }[] {
  return reqs.flatMap((r) => {
    const path = `$.metadata.labels."${r.key}"`;
    const x = 'json_extract(object, ?)';
    switch (r.op) {
      case 'exists': return [{ sql: `${x} IS NOT NULL`, args: [path] }];
      case '!exists': return [{ sql: `${x} IS NULL`, args: [path] }];
      case '=': return [{ sql: `${x} = ?`, args: [path, r.value] }];
      case '!=': return [{ sql: `${x} IS NOT ?`, args: [path, r.value] }];
      case 'in': return [{ sql: `${x} IN (${r.values.map(() => '?').join(', ')})`, args: [path, ...r.values] }];
      case 'notin': return [{ sql: `(${x} IS NULL OR ${x} NOT IN (${r.values.map(() => '?').join(', ')}))`, args: [path, path, ...r.values] }];
      default: return []; // gt/lt are checked in JS
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
  get: (obj: KObject) => string | undefined;
}

const COMMON_FIELDS: Record<string, (obj: KObject) => string | undefined> = {
  'metadata.name': (o) => o.metadata?.name,
  'metadata.namespace': (o) => o.metadata?.namespace,
};

export function parseFieldSelector(sel: string | undefined, def: KindDef): FieldRequirement[] {
  if (!sel) return [];
  return splitTerms(sel).map((term) => {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${sel}'; can't understand '${term}'`);
    const get = COMMON_FIELDS[m[1]] ?? def.fields?.[m[1]];
    if (!get) {
      throw badRequest(`field label not supported: ${m[1]}`);
    }
    return { field: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3].trim(), get };
  });
}

export function matchFields(reqs: FieldRequirement[], obj: KObject): boolean {
  return reqs.every((r) => ((r.get(obj) ?? '') === r.value) === (r.op === '='));
}

/** Columns of `objects` that answer some field selectors in SQL; the rest are checked in JS. */
const FIELD_COLUMNS: Record<string, string> = {
  'metadata.name': 'name',
  'metadata.namespace': 'namespace',
};
const POD_FIELD_COLUMNS: Record<string, string> = { 'spec.nodeName': 'node_name', 'status.phase': 'phase' };

export function fieldSql(reqs: FieldRequirement[], kind: string): { sql: string; args: string[] }[] {
  return reqs.flatMap((r) => {
    const col = FIELD_COLUMNS[r.field] ?? (kind === 'Pod' ? POD_FIELD_COLUMNS[r.field] : undefined);
    if (!col) return [];
    return [{ sql: `IFNULL(${col}, '') ${r.op === '=' ? '=' : '!='} ?`, args: [r.value] }];
  });
}
