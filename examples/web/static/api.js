// The REST API, on the page's own origin. The session is the HttpOnly cookie that register
// and login set (SameSite=Strict), so this code never sees a token: fetch sends the cookie
// by itself. Every path, body and answer is in the OpenAPI document at /api/v1/openapi.json.

const BASE = "/api/v1";

/** A refused request: the HTTP status and chatcore's stable error `code`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Calls `method path` with an optional JSON body (or a FormData, for uploads) and answers
 * the JSON the API sends back (`null` for 204). Throws an ApiError with the error body's
 * `code` and `message`; a network failure is code `network` with status 0.
 */
export async function api(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, init);
  } catch {
    throw new ApiError(0, "network", "the server cannot be reached");
  }
  if (response.status === 204) return null;
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const error = json?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http_${response.status}`, error.message ?? response.statusText);
  }
  return json;
}

/** A path segment, escaped. */
export const seg = (value) => encodeURIComponent(value);
