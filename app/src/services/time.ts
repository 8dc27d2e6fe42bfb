/**
 * Time as people read and type it: the one place that turns instants into text and typed text into
 * instants, in the platform's zone (TIME_ZONE, default Asia/Shanghai: deadlines and payment times are
 * Beijing time). Every time shown carries its zone ("2026-12-03 14:05:09 (UTC+08:00)"), exports carry
 * the offset (ISO 8601), and a datetime-local input (which has no zone) is read in the same zone, so a
 * page, a form, a CSV file and a notification say the same thing. The chain keeps UTC instants.
 */
import moment from 'moment';

type When = Date | string | number | null | undefined;

export class TimeZone {
  private readonly parts: Intl.DateTimeFormat;

  /** `name` is an IANA zone (Asia/Shanghai, UTC, Europe/Berlin); an unknown one throws a RangeError. */
  constructor(name: string) {
    this.parts = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    this.name = this.parts.resolvedOptions().timeZone;
  }

  readonly name: string;

  /** Minutes east of UTC at that instant (zones with summer time change it). */
  offsetMinutes(at: Date): number {
    const p = Object.fromEntries(this.parts.formatToParts(at).map((x) => [x.type, x.value]));
    const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
    return Math.round((wall - Math.floor(at.getTime() / 1000) * 1000) / 60_000);
  }

  /** "+08:00" at that instant. */
  offset(at: Date = new Date()): string {
    const m = this.offsetMinutes(at);
    const abs = Math.abs(m);
    return `${m < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  }

  /** "UTC+08:00": what a label beside a time or a time input says. */
  label(at: Date = new Date()): string {
    return `UTC${this.offset(at)}`;
  }

  private local(when: When): moment.Moment | undefined {
    if (when === null || when === undefined || when === '') return undefined;
    const at = new Date(when);
    if (Number.isNaN(at.getTime())) return undefined;
    return moment(at).utcOffset(this.offsetMinutes(at));
  }

  /** "2026-12-03 14:05 (UTC+08:00)", with seconds when asked (payment times); '—' for no time. */
  time(when: When, { seconds = false }: { seconds?: boolean } = {}): string {
    const m = this.local(when);
    return m ? `${m.format(seconds ? 'YYYY-MM-DD HH:mm:ss' : 'YYYY-MM-DD HH:mm')} (${this.label(m.toDate())})` : '—';
  }

  /** The calendar day in the zone, "2026-12-03" (or another moment format such as "MM-DD"). */
  date(when: When, format = 'YYYY-MM-DD'): string {
    return this.local(when)?.format(format) ?? '—';
  }

  /** ISO 8601 with the zone's offset, "2026-12-03T14:05:09+08:00": exports and machine-read text. '' for no time. */
  iso(when: When): string {
    return this.local(when)?.format('YYYY-MM-DDTHH:mm:ssZ') ?? '';
  }

  /** The value of a datetime-local input ("2026-12-03T14:05:09"), wall-clock time in the zone. */
  inputValue(when: When): string {
    return this.local(when)?.format('YYYY-MM-DDTHH:mm:ss') ?? '';
  }

  /** "3 hours ago" / "3 小时前". */
  ago(when: When, lang: string): string {
    const m = this.local(when);
    return m ? m.locale(lang === 'zh-CN' ? 'zh-cn' : 'en').fromNow() : '';
  }

  /** How long until or since, without "ago" ("3 天"). */
  duration(when: When, lang: string): string {
    const m = this.local(when);
    return m ? m.locale(lang === 'zh-CN' ? 'zh-cn' : 'en').fromNow(true) : '';
  }

  /**
   * What a person typed → the instant, or undefined when it is not a real time. "YYYY-MM-DDTHH:mm[:ss]"
   * (a datetime-local input, "T" or a space) is wall-clock time in the zone; a value with its own zone
   * (Z, +hh:mm) keeps it; a bare "YYYY-MM-DD" is refused unless `endOfDay`, then it means 23:59:59.
   * A time that does not exist (30 February, an hour skipped by summer time) is refused, not rolled over.
   */
  parse(input: string, { endOfDay = false }: { endOfDay?: boolean } = {}): Date | undefined {
    const text = input.trim();
    const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    const m = day && endOfDay ? [...day, '23', '59', '59', undefined] : /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
    if (!m) return undefined;
    const [y, mo, d, h, mi, s = '00'] = m.slice(1, 7).map((v) => v ?? '00');
    const zone = m[7];
    const wall = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
    if (Number.isNaN(wall)) return undefined;
    const wallText = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
    if (zone) {
      const sign = zone === 'Z' ? 0 : zone.startsWith('-') ? -1 : 1;
      const at = new Date(wall - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000);
      // Date.UTC rolls 30 February over into March: the typed fields must survive the round trip.
      return new Date(wall).toISOString().slice(0, 19) === wallText ? at : undefined;
    }
    // The offset at the wall time read as UTC, then again at the instant it gives (they differ only near a change).
    let at = new Date(wall - this.offsetMinutes(new Date(wall)) * 60_000);
    at = new Date(wall - this.offsetMinutes(at) * 60_000);
    return this.inputValue(at) === wallText ? at : undefined;
  }
}

const zones = new Map<string, TimeZone>();

/** The zone of that name, made once; an unknown name throws (config.ts turns it into a TIME_ZONE message). */
export function timeZone(name: string): TimeZone {
  let zone = zones.get(name);
  if (!zone) zones.set(name, (zone = new TimeZone(name)));
  return zone;
}
