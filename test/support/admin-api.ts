export interface ApiResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface ApiRequest {
  token?: string;
  /** sent as JSON unless `raw` is given */
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

/** Calls the admin API as an operator's script would: fetch, a bearer token, JSON. */
export function adminApi(issuer: string) {
  return async (method: string, path: string, request: ApiRequest = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    let body: string | undefined = request.raw;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${issuer}/admin/api${path}`, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the test sees the text
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}
