// The /api/v1 error type and Quay's error catalogue (part1 §0.4, §4). Handlers throw; only the error
// handler in src/lib/error-handler.ts writes error replies.

export const ERROR_DESCRIPTIONS = {
  external_service_timeout: 'An external service timed out. Retrying the request may resolve the issue.',
  invalid_request: 'The request was invalid. It may have contained invalid values or was improperly formatted.',
  invalid_response: 'The response was invalid.',
  invalid_token: 'The access token provided was invalid.',
  expired_token: 'The access token provided has expired.',
  insufficient_scope: 'The access token did not have sufficient scope to access the requested resource.',
  fresh_login_required: 'The action requires a fresh login to succeed.',
  exceeds_license: 'The action was refused because the current license does not allow it.',
  not_found: 'The resource was not found.',
  downstream_issue: 'An error occurred in a downstream service.',
  // Not Quay's: this server answers 501 for the operations it does not serve yet.
  not_implemented: 'This operation is part of the Quay API but is not implemented by this server yet.',
  // Not Quay's (Quay answers an HTML page): the type of any unexpected server error.
  internal_error: 'An unexpected error occurred on the server. It has been logged.',
} as const;
export type ApiErrorType = keyof typeof ERROR_DESCRIPTIONS;

export class ApiError extends Error {
  constructor(
    readonly errorType: ApiErrorType,
    readonly statusCode: number,
    readonly detail?: string,
    readonly payload: Record<string, unknown> = {},
  ) {
    super(detail ?? errorType);
  }
}

/** A reply whose body is not an ApiError: `{message}`, `{error}` and the like, as Quay emits them. */
export class PlainError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.message === 'string' ? body.message : typeof body.error === 'string' ? body.error : `HTTP ${statusCode}`);
  }
}

export const invalidRequest = (detail: string, payload?: Record<string, unknown>) =>
  new ApiError('invalid_request', 400, detail, payload);
export const notFound = (detail = 'Not Found') => new ApiError('not_found', 404, detail);
export const unauthorized = (payload?: Record<string, unknown>) =>
  new ApiError('invalid_token', 401, 'Requires authentication', payload);
export const insufficientScope = () => new ApiError('insufficient_scope', 403, 'Unauthorized');
export const freshLoginRequired = () => new ApiError('fresh_login_required', 401, 'Requires fresh login');
export const notImplemented = (what: string) =>
  new ApiError('not_implemented', 501, `${what} is not implemented by this server yet`);

/** `{message}` errors: Quay's data-model exceptions and plain aborts. */
export const message = (statusCode: number, text: string) => new PlainError(statusCode, { message: text });

export function apiErrorBody(err: ApiError, baseUrl: string): Record<string, unknown> {
  const body: Record<string, unknown> = {
    status: err.statusCode,
    error_message: err.detail ?? '',
    title: err.errorType,
    error_type: err.errorType,
    detail: err.detail ?? '',
    type: `${baseUrl}/api/v1/error/${err.errorType}`,
  };
  if (err.detail === undefined) {
    delete body.detail;
    delete body.error_message;
  }
  return { ...body, ...err.payload };
}
