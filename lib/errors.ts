/**
 * Error policy (DEVELOPERS.md): TypeError for a wrong type, RangeError for a bad shape, index or
 * option value, and PathwiseError (an Error with a stable `code`) for a bad model or a runtime
 * failure. Codes are part of the public API and are listed in the README.
 */
export type PathwiseErrorCode =
  | 'PATHWISE_UNSUPPORTED_OP'
  | 'PATHWISE_BAD_MODEL'
  | 'PATHWISE_DISPOSED'
  | 'PATHWISE_NO_BINARY'
  | 'PATHWISE_MEMORY_LIMIT'
  | 'PATHWISE_NATIVE';

export class PathwiseError extends Error {
  readonly code: PathwiseErrorCode;
  constructor(code: PathwiseErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PathwiseError';
    this.code = code;
  }
}

export function unsupported(message: string): PathwiseError {
  return new PathwiseError('PATHWISE_UNSUPPORTED_OP', message);
}

export function badModel(message: string): PathwiseError {
  return new PathwiseError('PATHWISE_BAD_MODEL', message);
}

const CODES: ReadonlySet<string> = new Set<PathwiseErrorCode>([
  'PATHWISE_UNSUPPORTED_OP', 'PATHWISE_BAD_MODEL', 'PATHWISE_DISPOSED', 'PATHWISE_NO_BINARY', 'PATHWISE_MEMORY_LIMIT', 'PATHWISE_NATIVE',
]);

/**
 * The addon reports model, memory and runtime failures as plain Errors with a `code`; the public
 * API throws them as PathwiseError (same code and message), as the README documents.
 */
export function fromNative(e: unknown): unknown {
  if (e instanceof Error && !(e instanceof PathwiseError)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) return new PathwiseError(code as PathwiseErrorCode, e.message);
  }
  return e;
}

/**
 * The rejection of a call stopped by its AbortSignal: an Error named 'AbortError' with code
 * 'ABORT_ERR' and the signal's reason as `cause`, as Node's own APIs (fs, events) reject.
 */
export function abortError(signal: AbortSignal | undefined): Error {
  const err = new Error('The operation was aborted', signal ? { cause: signal.reason } : undefined);
  err.name = 'AbortError';
  (err as Error & { code: string }).code = 'ABORT_ERR';
  return err;
}
