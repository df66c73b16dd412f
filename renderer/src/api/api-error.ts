/** An error envelope {code, message} from the core, as a throwable. */
export class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorCode(error: unknown): string {
  if (error instanceof ApiError) return error.code;
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') return error.code;
  return 'error';
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
