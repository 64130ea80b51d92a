// Accounts over HTTP (protocol.md §2). The server answers with the session cookie
// (`palaver_token`, HttpOnly): this page never sees or stores the token itself.

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function post(path, body) {
  let resp;
  try {
    resp = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    throw new HttpError(0, 'network', 'Cannot reach the server. Check your connection and try again.');
  }
  let data = null;
  const text = await resp.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error;
    throw new HttpError(resp.status, err ? err.code : 'http', err ? err.message : text || `HTTP ${resp.status}`);
  }
  return data;
}

/** Returns `{user}`; the cookie is set by the response. */
export async function signup({ handle, password, display_name }) {
  const body = { handle, password };
  if (display_name) body.display_name = display_name;
  const { user } = await post('/api/v1/signup', body);
  return { user };
}

export async function login({ handle, password }) {
  const body = handle.includes('@') && !handle.startsWith('@') ? { email: handle, password } : { handle, password };
  const { user } = await post('/api/v1/login', body);
  return { user };
}

/** Revokes the session (closing its WebSockets with 1008) and clears the cookie. */
export async function logout() {
  try {
    await post('/api/v1/logout', {});
  } catch (e) {
    // Already logged out (401) is the state we wanted.
    if (!(e instanceof HttpError) || e.status !== 401) throw e;
  }
}

/** True when the server answers its health check: tells "server down" from "not accepted". */
export async function healthy() {
  try {
    const resp = await fetch('/healthz', { cache: 'no-store', credentials: 'omit' });
    return resp.ok;
  } catch {
    return false;
  }
}
