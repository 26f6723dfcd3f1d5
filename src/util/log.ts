/**
 * Project-wide logger (pino). Level from `SFN_LOG_LEVEL` (default `info`); logs go to stderr so
 * that commands printing JSON on stdout (e.g. `eval --json`) stay machine-readable.
 */
import { pino } from 'pino';

export const log = pino(
  { name: 'sfn-edge', level: process.env.SFN_LOG_LEVEL ?? 'info' },
  pino.destination(2),
);
