/**
 * Project-wide logger (pino), always on stderr so that commands printing JSON on stdout (e.g.
 * `eval --json`) stay machine-readable. Two forms of the same records:
 *   json    newline-delimited pino JSON (the default when stderr is not a terminal)
 *   pretty  one readable line per record: time, level, message, then the other fields as key=value
 *           (the default on a terminal)
 * `log` is a module-level singleton imported everywhere; {@link configureLog} (called by the CLI
 * before any verb runs, from --log-level / --log-format / SFN_LOG_LEVEL / SFN_LOG_FORMAT) changes
 * its level and switches its destination in place. Formatting happens in-process and
 * synchronously: no pino worker-thread transport, which would load modules by name and break in
 * the single executable that `flash build` bundles.
 */
import { isatty } from 'node:tty';
import { isMainThread } from 'node:worker_threads';
import { pino } from 'pino';

/** Log levels accepted by --log-level and SFN_LOG_LEVEL (pino's, `silent` = nothing). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Log formats accepted by --log-format and SFN_LOG_FORMAT. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const isLevel = (v: string): v is LogLevel => (LOG_LEVELS as readonly string[]).includes(v);
const isFormat = (v: string): v is LogFormat => (LOG_FORMATS as readonly string[]).includes(v);

/** stderr, written synchronously (nothing is lost when a verb calls process.exit). */
const stderr = pino.destination({ fd: 2, sync: true });
let write: (line: string) => void = (line) => stderr.write(line);
/** pino's destination: forwards every record to the form in force (switched by configureLog). */
const destination = { write: (line: string) => write(line) };

/**
 * The format used when none is asked for: pretty when stderr (fd 2, as the destination writes it;
 * the same in worker threads, whose process.stderr is a pipe to the main thread) is a terminal,
 * JSON otherwise.
 */
function autoFormat(): LogFormat {
  return isatty(2) ? 'pretty' : 'json';
}

/**
 * `<pid>:<format>` set by configureLog: worker threads (same pid, env copied at their start) take
 * the main thread's format from it; child processes (another pid) ignore it.
 */
const THREAD_FORMAT_VAR = 'SFN_LOG_THREAD_FORMAT';
function initialFormat(): LogFormat {
  const env = process.env.SFN_LOG_FORMAT ?? '';
  if (isFormat(env)) return env;
  const [pid, f] = (process.env[THREAD_FORMAT_VAR] ?? '').split(':');
  if (!isMainThread && pid === String(process.pid) && f !== undefined && isFormat(f)) return f;
  return autoFormat();
}

/**
 * The logger of every module (stderr). Level and form as {@link configureLog} set them, before
 * that from SFN_LOG_LEVEL / SFN_LOG_FORMAT (an unknown value: info / the automatic form).
 */
export const log = pino(
  {
    name: 'sfn-edge',
    // an unknown SFN_LOG_LEVEL falls back to info here, so that the CLI can reject it with a message
    level: isLevel(process.env.SFN_LOG_LEVEL ?? '') ? process.env.SFN_LOG_LEVEL! : 'info',
  },
  destination,
);
applyFormat(initialFormat());

function applyFormat(format: LogFormat): void {
  if (format === 'json') {
    write = (line) => stderr.write(line);
  } else {
    const color = useColor();
    write = (line) => stderr.write(formatPretty(line, { color }));
  }
}

/** Colours only on a terminal, and not when NO_COLOR is set or FORCE_COLOR=0. */
function useColor(): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR === '0') return false;
  return isatty(2);
}

/** What {@link configureLog} settled on. */
export interface LogSettings {
  level: LogLevel;
  format: LogFormat;
}

/**
 * Sets the level and the format of {@link log}; call it before a command runs. Each setting
 * not given comes from the environment (`SFN_LOG_LEVEL`, `SFN_LOG_FORMAT`), else `info` and
 * pretty on a terminal / JSON otherwise. Side effects on `process.env`, for the child processes
 * this one starts (training workers, whose stderr their parent reads as JSON): SFN_LOG_LEVEL is
 * set to the level chosen, so they log at the same level, and SFN_LOG_FORMAT is removed, so they
 * write JSON to the pipe rather than this process's format; SFN_LOG_THREAD_FORMAT carries the
 * format to this process's worker threads (the captioner), which log in it too.
 * @throws Error naming the flag or the variable when a level or format is not one of
 *   {@link LOG_LEVELS} / {@link LOG_FORMATS}.
 */
export function configureLog(o: { level?: string; format?: string } = {}): LogSettings {
  const level = o.level ?? process.env.SFN_LOG_LEVEL ?? 'info';
  if (!isLevel(level)) {
    throw new Error(`${o.level !== undefined ? '--log-level' : 'SFN_LOG_LEVEL'} must be one of ${LOG_LEVELS.join(', ')}, got '${level}'`);
  }
  const asked = o.format ?? process.env.SFN_LOG_FORMAT;
  if (asked !== undefined && !isFormat(asked)) {
    throw new Error(`${o.format !== undefined ? '--log-format' : 'SFN_LOG_FORMAT'} must be one of ${LOG_FORMATS.join(', ')}, got '${asked}'`);
  }
  const format = asked ?? autoFormat();
  log.level = level;
  applyFormat(format);
  process.env.SFN_LOG_LEVEL = level;
  delete process.env.SFN_LOG_FORMAT;
  process.env[THREAD_FORMAT_VAR] = `${process.pid}:${format}`;
  return { level, format };
}

const LABELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields of every record that the readable line shows otherwise or leaves out. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

const two = (n: number) => String(n).padStart(2, '0');
function clock(ms: unknown): string {
  const d = typeof ms === 'number' ? new Date(ms) : new Date();
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A field value as key=value shows it: bare when it has no space, quote or `=`, else as JSON. */
function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"'=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === undefined) return 'undefined';
  // an error serialised by pino ({type, message, stack}): its message (the stack is in the JSON form)
  if (typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string' && typeof (v as { stack?: unknown }).stack === 'string') {
    return JSON.stringify((v as { message: string }).message);
  }
  return JSON.stringify(v);
}

/**
 * One pino JSON record (a line, with or without its newline) as a readable line ending in a
 * newline: local time `HH:MM:SS.mmm`, level, message, then the record's other fields as
 * key=value (pid, hostname and name left out; objects as compact JSON; errors by their message).
 * A line that is not a JSON object is returned unchanged (with a newline). Never throws.
 */
export function formatPretty(line: string, o: { color?: boolean } = {}): string {
  let r: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return line.endsWith('\n') ? line : `${line}\n`;
    r = parsed as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const n = typeof r.level === 'number' ? r.level : 30;
  const label = (LABELS[n] ?? String(r.level)).padEnd(5);
  const paint = (code: string, s: string) => (o.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const parts = [paint('2', clock(r.time)), paint(COLORS[n] ?? '0', label)];
  if (typeof r.msg === 'string' && r.msg !== '') parts.push(r.msg);
  for (const [k, v] of Object.entries(r)) {
    if (HIDDEN.has(k)) continue;
    parts.push(`${paint('2', `${k}=`)}${value(v)}`);
  }
  return `${parts.join(' ')}\n`;
}
