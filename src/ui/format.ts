// What the console prints, as kubectl prints it.
export { age, duration } from '../kinds/format.js';

/** Millicores as kubectl top prints them: "250m", "2". */
export function cpu(milli: number): string {
  if (milli >= 1000 && milli % 1000 === 0) return `${milli / 1000}`;
  return `${Math.round(milli)}m`;
}

/** Bytes in binary units: "512Mi", "3.5Gi". */
export function bytes(n: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 10 || i === 0 ? Math.round(n) : Math.round(n * 10) / 10}${units[i]}`;
}

/** A fraction as a percentage for bars, clamped to 0..100. */
export function percent(part: number, whole: number): number {
  if (!whole) return 0;
  return Math.max(0, Math.min(100, (part / whole) * 100));
}
