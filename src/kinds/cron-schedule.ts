// Cron schedules as Kubernetes reads them: robfig/cron v3's ParseStandard (5 fields, the @yearly ...
// @hourly descriptors, @every DURATION, an optional TZ=/CRON_TZ= prefix), with its error messages,
// which kube-apiserver returns as they are. The parse here is robfig's; the next run in a time zone
// is croner's (Intl-based, so it runs on Workers), given the parsed fields as explicit lists and
// robfig's day rule: day-of-month AND day-of-week when either is a star, OR when both are restricted.
import { Cron } from 'croner';

/** What robfig's Schedule answers: the first run strictly after `after` (ms), none within croner's horizon. */
export interface Schedule {
  next(after: number): number | undefined;
}

export class CronScheduleError extends Error {}

interface Bounds {
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
};
const DOW: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

/** One field: the values it allows, and whether it was written as a star (`*` or `?`, robfig's starBit). */
interface Field {
  values: Set<number>;
  star: boolean;
}

/** The timezone used where a CronJob names none: kube-controller-manager's, which is UTC here. */
export const CONTROLLER_TIME_ZONE = 'UTC';

/** strconv.Atoi, with its errors as robfig wraps them. */
function parseUint(expr: string): number {
  const fail = (why: string) => new CronScheduleError(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: ${why}`);
  if (!/^[+-]?\d+$/.test(expr)) throw fail('invalid syntax');
  const n = Number(expr);
  if (!Number.isSafeInteger(n)) throw fail('value out of range');
  if (n < 0) throw new CronScheduleError(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

function parseIntOrName(expr: string, r: Bounds): number {
  const named = r.names?.[expr.toLowerCase()];
  return named ?? parseUint(expr);
}

/** robfig's getRange: number | number "-" number [ "/" number ], or a star with an optional step. */
function parseRange(expr: string, r: Bounds, field: Field): void {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  let start: number;
  let end: number;
  let star = false;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = r.min;
    end = r.max;
    star = true;
  } else {
    start = parseIntOrName(lowAndHigh[0], r);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseIntOrName(lowAndHigh[1], r);
    else throw new CronScheduleError(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseUint(rangeAndStep[1]);
    // "N/step" means "N-max/step".
    if (lowAndHigh.length === 1) end = r.max;
    if (step > 1) star = false;
  } else if (rangeAndStep.length > 2) {
    throw new CronScheduleError(`too many slashes: ${expr}`);
  }
  if (start < r.min) throw new CronScheduleError(`beginning of range (${start}) below minimum (${r.min}): ${expr}`);
  if (end > r.max) throw new CronScheduleError(`end of range (${end}) above maximum (${r.max}): ${expr}`);
  if (start > end) throw new CronScheduleError(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new CronScheduleError(`step of range should be a positive number: ${expr}`);
  for (let i = start; i <= end; i += step) field.values.add(i);
  field.star ||= star;
}

function parseField(text: string, r: Bounds): Field {
  const field: Field = { values: new Set(), star: false };
  for (const expr of text.split(',').filter((e) => e !== '')) parseRange(expr, r, field);
  return field;
}

const all = (r: Bounds): Field => ({ values: new Set(Array.from({ length: r.max - r.min + 1 }, (_, i) => r.min + i)), star: true });
const one = (v: number): Field => ({ values: new Set([v]), star: false });

/** The descriptors robfig's standard parser knows, as [minute, hour, dom, month, dow]. */
const DESCRIPTORS: Record<string, () => Field[]> = {
  '@yearly': () => [one(0), one(0), one(1), one(1), all(DOW)],
  '@annually': () => [one(0), one(0), one(1), one(1), all(DOW)],
  '@monthly': () => [one(0), one(0), one(1), all(MONTHS), all(DOW)],
  '@weekly': () => [one(0), one(0), all(DOM), all(MONTHS), one(0)],
  '@daily': () => [one(0), one(0), all(DOM), all(MONTHS), all(DOW)],
  '@midnight': () => [one(0), one(0), all(DOM), all(MONTHS), all(DOW)],
  '@hourly': () => [one(0), all(HOURS), all(DOM), all(MONTHS), all(DOW)],
};

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds, with its error messages. */
export function parseGoDuration(s: string): number {
  const quoted = JSON.stringify(s);
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new CronScheduleError(`time: invalid duration ${quoted}`);
  let total = 0;
  while (rest !== '') {
    const num = /^(\d*)(?:\.(\d*))?/.exec(rest)!;
    if (num[0] === '' || num[0] === '.' || (num[1] === '' && !num[2])) throw new CronScheduleError(`time: invalid duration ${quoted}`);
    rest = rest.slice(num[0].length);
    const unit = /^[^\d.]*/.exec(rest)![0];
    if (unit === '') throw new CronScheduleError(`time: missing unit in duration ${quoted}`);
    const scale = DURATION_UNITS[unit];
    if (scale === undefined) throw new CronScheduleError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    rest = rest.slice(unit.length);
    total += Number(`${num[1] || '0'}.${num[2] || '0'}`) * scale;
  }
  return sign * total;
}

/** robfig's ConstantDelaySchedule: whole seconds, at least one, after the second `after` falls in. */
function every(delayMs: number): Schedule {
  const delay = delayMs < 1000 ? 1000 : delayMs - (delayMs % 1000);
  return { next: (after) => Math.floor(after / 1000) * 1000 + delay };
}

const list = (f: Field) => [...f.values].sort((a, b) => a - b).join(',');

/** The fields as a croner pattern (seconds first), and the day rule robfig applies. */
function specSchedule(fields: Field[], zone: string): Schedule {
  const [minute, hour, dom, month, dow] = fields;
  if ([minute, hour, dom, month, dow].some((f) => f.values.size === 0)) return { next: () => undefined };
  const domAndDow = dom.star || dow.star;
  const pattern = `0 ${list(minute)} ${list(hour)} ${dom.star ? '*' : list(dom)} ${list(month)} ${dow.star ? '*' : list(dow)}`;
  const cron = new Cron(pattern, { mode: '6-part', domAndDow, ...(zone === 'UTC' ? { utcOffset: 0 } : { timezone: zone }) });
  return {
    next: (after) => {
      const t = cron.nextRun(new Date(after));
      return t ? t.getTime() : undefined;
    },
  };
}

const cache = new Map<string, Schedule | CronScheduleError>();
const CACHE_LIMIT = 10_000;

/**
 * robfig/cron's ParseStandard(spec) with the schedule's location as robfig takes it: a TZ=/CRON_TZ=
 * prefix, else `zone`. Throws CronScheduleError with robfig's message. Parsed schedules are kept (a
 * pure cache: the same text always parses the same).
 */
export function parseStandard(spec: string, zone: string = CONTROLLER_TIME_ZONE): Schedule {
  const key = `${zone}\n${spec}`;
  let found = cache.get(key);
  if (!found) {
    try {
      found = parse(spec, zone);
    } catch (e) {
      if (!(e instanceof CronScheduleError)) throw e;
      found = e;
    }
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(key, found);
  }
  if (found instanceof CronScheduleError) throw found;
  return found;
}

/** robfig's error for `spec`, undefined when it parses. */
export function scheduleError(spec: string): string | undefined {
  try {
    parseStandard(spec);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function parse(spec: string, defaultZone: string): Schedule {
  if (spec.length === 0) throw new CronScheduleError('empty spec string');
  let zone = defaultZone;
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const space = spec.indexOf(' ');
    const name = spec.slice(spec.indexOf('=') + 1, space < 0 ? undefined : space);
    const resolved = name === '' || name === 'Local' ? CONTROLLER_TIME_ZONE : resolveTimeZone(name);
    if (space < 0 || !resolved) throw new CronScheduleError(`provided bad location ${name}: unknown time zone ${name}`);
    zone = resolved;
    spec = spec.slice(space).trim();
  }
  if (spec.startsWith('@')) {
    const descriptor = DESCRIPTORS[spec];
    if (descriptor) return specSchedule(descriptor(), zone);
    if (spec.startsWith('@every ')) {
      try {
        return every(parseGoDuration(spec.slice('@every '.length)));
      } catch (e) {
        throw new CronScheduleError(`failed to parse duration ${spec}: ${(e as Error).message}`);
      }
    }
    throw new CronScheduleError(`unrecognized descriptor: ${spec}`);
  }
  const fields = spec.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) throw new CronScheduleError(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`);
  return specSchedule([
    parseField(fields[0], MINUTES),
    parseField(fields[1], HOURS),
    parseField(fields[2], DOM),
    parseField(fields[3], MONTHS),
    parseField(fields[4], DOW),
  ], zone);
}

// ---- time zones

const formatters = new Map<string, Intl.DateTimeFormat | null>();

function formatter(zone: string): Intl.DateTimeFormat | null {
  let f = formatters.get(zone);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
      });
    } catch {
      f = null;
    }
    if (formatters.size >= CACHE_LIMIT) formatters.clear();
    formatters.set(zone, f);
  }
  return f;
}

/**
 * The IANA zone `name` names (as Intl resolves it), or undefined where Go's time.LoadLocation would
 * fail: unknown to the runtime's time zone database, or a canonical name in the wrong case (Go reads
 * zoneinfo files by exact name). Offsets such as "+05:00", which Intl may take, are no zone names.
 */
export function resolveTimeZone(name: string): string | undefined {
  if (!/^[A-Za-z]/.test(name)) return undefined;
  const resolved = formatter(name)?.resolvedOptions().timeZone;
  if (!resolved) return undefined;
  if (resolved.toLowerCase() === name.toLowerCase() && resolved !== name) return undefined;
  return resolved;
}

/** Wall-clock fields of `ms` in `zone`, and its offset from UTC in minutes. */
function wallClock(ms: number, zone: string): { fields: Record<string, string>; offset: number } {
  const f = formatter(zone) ?? formatter('UTC')!;
  const fields = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const seconds = Math.floor(ms / 1000) * 1000;
  const asUtc = Date.UTC(Number(fields.year), Number(fields.month) - 1, Number(fields.day), Number(fields.hour), Number(fields.minute), Number(fields.second));
  return { fields, offset: Math.round((asUtc - seconds) / 60000) };
}

/** `ms` as Go's time.RFC3339 prints it in `zone` (whole seconds; "Z" for a zero offset). */
export function formatRFC3339(ms: number, zone: string = CONTROLLER_TIME_ZONE): string {
  const { fields: f, offset } = wallClock(ms, zone);
  const abs = Math.abs(offset);
  const pad = (n: number) => String(n).padStart(2, '0');
  const suffix = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return `${f.year.padStart(4, '0')}-${f.month}-${f.day}T${f.hour}:${f.minute}:${f.second}${suffix}`;
}
