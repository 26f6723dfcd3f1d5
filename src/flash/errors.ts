/**
 * The one error type of flashing: a `code` tests and the hosts summary can match on, and a message
 * that says what was wrong and what to do.
 */

/** What went wrong. */
export const FLASH_ERROR_CODES = [
  'unsigned', // no checksum list or signature
  'tampered', // signature or checksum does not verify
  'key', // fleet key missing or of the wrong type
  'exists', // refusing to overwrite
  'unreachable', // the device does not answer on SSH
  'key-refused', // SSH refused our key
  'host-key', // the device's host key is unknown or changed
  'disk-full', // not enough space on the device
  'unknown-profile', // no such device profile
  'wrong-arch', // the bundle's architecture is not the device's
  'unhealthy', // the new version did not come up in time (rolled back)
  'remote', // a command on the device failed
  'input', // bad arguments or hosts file
] as const;
/** One of {@link FLASH_ERROR_CODES}. */
export type FlashErrorCode = (typeof FLASH_ERROR_CODES)[number];

/** A flashing error with a machine-readable `code`. */
export class FlashError extends Error {
  constructor(
    readonly code: FlashErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FlashError';
  }
}
