// Cron schedules as Kubernetes reads them (robfig/cron v3 ParseStandard): syntax, errors word for
// word, robfig's day-of-month/day-of-week rule, time zones, and the controller's missed-time count.
import { describe, expect, it } from 'vitest';
import { formatRFC3339, parseGoDuration, parseStandard, resolveTimeZone, scheduleError } from '../../src/kinds/cron-schedule.js';
import { mostRecentScheduleTime } from '../../src/control/cronjobs.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The next `n` runs of `spec` after `from`. */
function runs(spec: string, from: string, n: number, zone?: string): (string | undefined)[] {
  const s = parseStandard(spec, zone);
  const out: (string | undefined)[] = [];
  let t: number | undefined = at(from);
  for (let i = 0; i < n && t !== undefined; i++) out.push(iso((t = s.next(t))));
  return out;
}

describe('cron schedule parsing', () => {
  it('rejects what robfig rejects, with its messages', () => {
    const cases: [string, string][] = [
      ['foo', 'expected exactly 5 fields, found 1: [foo]'],
      ['* * * *', 'expected exactly 5 fields, found 4: [* * * *]'],
      ['0 * * * * *', 'expected exactly 5 fields, found 6: [0 * * * * *]'],
      ['60 * * * *', 'end of range (60) above maximum (59): 60'],
      ['* 24 * * *', 'end of range (24) above maximum (23): 24'],
      ['* * 0 * *', 'beginning of range (0) below minimum (1): 0'],
      ['* * * 13 *', 'end of range (13) above maximum (12): 13'],
      ['* * * * 7', 'end of range (7) above maximum (6): 7'],
      ['a * * * *', 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'],
      ['*/0 * * * *', 'step of range should be a positive number: */0'],
      ['1-2-3 * * * *', 'too many hyphens: 1-2-3'],
      ['1/2/3 * * * *', 'too many slashes: 1/2/3'],
      ['5-1 * * * *', 'beginning of range (5) beyond end of range (1): 5-1'],
      ['* * * * L', 'failed to parse int from L: strconv.Atoi: parsing "L": invalid syntax'],
      ['@foo', 'unrecognized descriptor: @foo'],
      ['@every 1d', 'failed to parse duration @every 1d: time: unknown unit "d" in duration "1d"'],
      ['@every 5', 'failed to parse duration @every 5: time: missing unit in duration "5"'],
      ['TZ=Mars/Olympus 0 * * * *', 'provided bad location Mars/Olympus: unknown time zone Mars/Olympus'],
    ];
    for (const [spec, message] of cases) expect(scheduleError(spec), spec).toBe(message);
  });

  it('accepts Kubernetes syntax: descriptors, names, ? and steps', () => {
    for (const spec of ['*/1 * * * *', '@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly', '@every 1h30m',
      '0 0 ? * MON-FRI', '0 0 1 jan,JUL *', '5/15 * * * *', '0 9 * * 1-5', 'TZ=Asia/Tokyo 0 9 * * *', 'CRON_TZ=UTC 0 9 * * *']) {
      expect(scheduleError(spec), spec).toBeUndefined();
    }
  });

  it('computes the next runs as robfig does', () => {
    expect(runs('*/1 * * * *', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T00:01:00.000Z', '2026-01-01T00:02:00.000Z']);
    // Strictly after, to the second.
    expect(runs('*/1 * * * *', '2026-01-01T00:00:59.900Z', 1)).toEqual(['2026-01-01T00:01:00.000Z']);
    expect(runs('@hourly', '2026-01-01T00:30:00Z', 2)).toEqual(['2026-01-01T01:00:00.000Z', '2026-01-01T02:00:00.000Z']);
    // "N/step" is N-max/step.
    expect(runs('5/15 * * * *', '2026-01-01T00:00:00Z', 5).map((t) => t!.slice(11, 16))).toEqual(['00:05', '00:20', '00:35', '00:50', '01:05']);
    expect(runs('@weekly', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-04T00:00:00.000Z']); // a Sunday
    expect(runs('0 0 1 jan,JUL *', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-07-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('ORs day of month and day of week when both are restricted, ANDs when either is a star', () => {
    // 2026-01-01 is a Thursday. Mondays or the 15th:
    expect(runs('0 0 15 * 1', '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-05T00:00:00.000Z', '2026-01-12T00:00:00.000Z', '2026-01-15T00:00:00.000Z']);
    // Mondays only (a star, or ?, in day of month).
    expect(runs('0 0 * * 1', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-05T00:00:00.000Z', '2026-01-12T00:00:00.000Z']);
    expect(runs('0 0 ? * 1', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-05T00:00:00.000Z']);
    // A step above 1 is no star: odd days or Mondays.
    expect(runs('0 0 */2 * 1', '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-03T00:00:00.000Z', '2026-01-05T00:00:00.000Z', '2026-01-07T00:00:00.000Z']);
    // */1 keeps the star: Mondays only.
    expect(runs('0 0 */1 * 1', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-05T00:00:00.000Z']);
  });

  it('runs in the named time zone, a TZ= prefix first', () => {
    expect(runs('0 9 * * *', '2026-01-01T00:00:00Z', 1, 'Asia/Tokyo')).toEqual(['2026-01-02T00:00:00.000Z']);
    expect(runs('TZ=Asia/Tokyo 0 9 * * *', '2026-01-01T00:00:00Z', 1, 'UTC')).toEqual(['2026-01-02T00:00:00.000Z']);
    expect(runs('0 9 * * *', '2026-07-01T00:00:00Z', 1, 'America/New_York')).toEqual(['2026-07-01T13:00:00.000Z']);
    expect(runs('0 9 * * *', '2026-01-01T00:00:00Z', 1, 'America/New_York')).toEqual(['2026-01-01T14:00:00.000Z']);
  });

  it('@every is a constant delay of whole seconds, at least one', () => {
    expect(runs('@every 90s', '2026-01-01T00:00:00.700Z', 2)).toEqual(['2026-01-01T00:01:30.000Z', '2026-01-01T00:03:00.000Z']);
    expect(runs('@every 10ms', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T00:00:01.000Z']);
    expect(parseGoDuration('1h30m')).toBe(5_400_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('-2m')).toBe(-120_000);
  });

  it('finds no time for a schedule that never runs', () => {
    expect(runs('0 0 30 2 *', '2026-01-01T00:00:00Z', 1)).toEqual([undefined]);
  });

  it('knows time zones as Go does, and prints RFC3339 in them', () => {
    expect(resolveTimeZone('Asia/Tokyo')).toBe('Asia/Tokyo');
    expect(resolveTimeZone('Mars/Olympus')).toBeUndefined();
    expect(resolveTimeZone('asia/tokyo')).toBeUndefined();
    expect(resolveTimeZone('+05:00')).toBeUndefined();
    expect(resolveTimeZone('Local')).toBeUndefined();
    expect(formatRFC3339(at('2026-01-01T00:00:00Z'), 'Asia/Tokyo')).toBe('2026-01-01T09:00:00+09:00');
    expect(formatRFC3339(at('2026-01-01T00:00:00Z'), 'America/St_Johns')).toBe('2025-12-31T20:30:00-03:30');
    expect(formatRFC3339(at('2026-01-01T00:00:00Z'), 'UTC')).toBe('2026-01-01T00:00:00Z');
  });
});

describe('mostRecentScheduleTime', () => {
  const cronJob = (schedule: string, created: string, extra: { lastScheduleTime?: string; startingDeadlineSeconds?: number } = {}) => ({
    metadata: { creationTimestamp: created },
    spec: { schedule, startingDeadlineSeconds: extra.startingDeadlineSeconds },
    status: extra.lastScheduleTime ? { lastScheduleTime: extra.lastScheduleTime } : {},
  });
  const every = parseStandard('*/1 * * * *');

  it('is none before the first time, then the newest time passed', () => {
    expect(mostRecentScheduleTime(cronJob('*/1 * * * *', '2026-01-01T00:00:10Z'), at('2026-01-01T00:00:50Z'), every, true)).toEqual({ missed: 'none' });
    expect(mostRecentScheduleTime(cronJob('*/1 * * * *', '2026-01-01T00:00:10Z'), at('2026-01-01T00:01:05Z'), every, true))
      .toEqual({ time: at('2026-01-01T00:01:00Z'), missed: 'none' });
    expect(mostRecentScheduleTime(cronJob('*/1 * * * *', '2026-01-01T00:00:10Z'), at('2026-01-01T00:05:30Z'), every, true))
      .toEqual({ time: at('2026-01-01T00:05:00Z'), missed: 'few' });
  });

  it('counts from the last schedule time, or startingDeadlineSeconds ago', () => {
    const cj = cronJob('*/1 * * * *', '2026-01-01T00:00:00Z', { lastScheduleTime: '2026-01-01T00:03:00Z', startingDeadlineSeconds: 30 });
    expect(mostRecentScheduleTime(cj, at('2026-01-01T00:03:40Z'), every, true)).toEqual({ missed: 'none' });
    expect(mostRecentScheduleTime(cj, at('2026-01-01T00:04:20Z'), every, true)).toEqual({ time: at('2026-01-01T00:04:00Z'), missed: 'none' });
    // Two minutes late: the 00:05 run is older than the deadline allows.
    expect(mostRecentScheduleTime(cj, at('2026-01-01T00:05:40Z'), every, true)).toEqual({ missed: 'none' });
    expect(mostRecentScheduleTime(cj, at('2026-01-01T00:05:40Z'), every, false)).toEqual({ time: at('2026-01-01T00:05:00Z'), missed: 'few' });
  });

  it('says many past 100 missed times', () => {
    const cj = cronJob('*/1 * * * *', '2026-01-01T00:00:00Z');
    expect(mostRecentScheduleTime(cj, at('2026-01-01T01:40:30Z'), every, true)).toEqual({ time: at('2026-01-01T01:40:00Z'), missed: 'few' });
    expect(mostRecentScheduleTime(cj, at('2026-01-01T01:41:30Z'), every, true)).toEqual({ time: at('2026-01-01T01:41:00Z'), missed: 'many' });
  });
});
