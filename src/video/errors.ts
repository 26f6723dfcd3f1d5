/**
 * The one error type for bad video input, so that the CLI can print a single actionable line and
 * callers can tell "your input is broken" apart from bugs.
 */

/**
 * Bad video input: a missing path, an unreadable or undecodable frame, a truncated video, a
 * missing decoder binary.
 *
 * `message` is `${file}: ${problem}. ${hint}`: the path first (so it survives truncated logs), then
 * what is wrong, then what to do about it.
 */
export class VideoInputError extends Error {
  /** The path (file or folder) the problem is about, as given by the caller or found on disk. */
  readonly file: string;
  /** Short description of what is wrong, without a trailing full stop (e.g. `folder not found`). */
  readonly problem: string;
  /** What the user can do about it. */
  readonly hint: string;

  /**
   * @param file path the problem is about.
   * @param problem short description of what is wrong (no trailing full stop).
   * @param hint what to do about it.
   * @param options `cause`: the underlying error (fs, sharp, child process), kept for debugging.
   */
  constructor(file: string, problem: string, hint: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}. ${hint}`, options);
    this.name = 'VideoInputError';
    this.file = file;
    this.problem = problem;
    this.hint = hint;
  }
}
