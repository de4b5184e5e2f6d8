// The one module that knows how the session is kept: sign-in, silent refresh, sign-out.
//
// The access token lives in memory (and in sessionStorage, so a reload of this tab does not spend
// a refresh token). The refresh token never reaches script: login and refresh ask for cookie mode
// (`X-Parley-Refresh: cookie`, which is also the CSRF check), and the auth service keeps it in an
// HttpOnly, SameSite=Strict cookie scoped to /auth/refresh. Refreshes are serialised across tabs
// with the Web Locks API: two tabs spending one refresh token would look like theft to the auth
// service (reuse detection) and end the session.

import { AUTH_BASE } from "./config";

const ACCESS_KEY = "parley.access";
/** Cookie mode of the refresh token (docs/auth.md); a cross-site form cannot send this header. */
const COOKIE_MODE = { "X-Parley-Refresh": "cookie" };

export interface Account {
  id: string;
  username: string;
}

interface TokenPair {
  access_token: string;
  expires_in: number;
  refresh_token?: string | null;
}

interface Access {
  token: string;
  expiresAt: number; // ms
  account: Account;
}

export class AuthError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let access: Access | null = readStoredAccess();
const listeners = new Set<() => void>();

function notify(): void {
  for (const l of [...listeners]) l();
}

export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function currentAccount(): Account | null {
  return access?.account ?? null;
}

function decode(token: string): Account & { exp: number } {
  const part = token.split(".")[1] ?? "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as {
    sub: string;
    preferred_username?: string;
    exp: number;
  };
  return { id: claims.sub, username: claims.preferred_username ?? "", exp: claims.exp };
}

function readStoredAccess(): Access | null {
  try {
    const raw = sessionStorage.getItem(ACCESS_KEY);
    if (raw === null) return null;
    const claims = decode(raw);
    return { token: raw, expiresAt: claims.exp * 1000, account: { id: claims.id, username: claims.username } };
  } catch {
    return null;
  }
}

function keep(pair: TokenPair): void {
  const claims = decode(pair.access_token);
  access = {
    token: pair.access_token,
    expiresAt: claims.exp * 1000,
    account: { id: claims.id, username: claims.username },
  };
  sessionStorage.setItem(ACCESS_KEY, pair.access_token);
  notify();
}

function forget(): void {
  access = null;
  sessionStorage.removeItem(ACCESS_KEY);
  notify();
}

async function post(path: string, body?: unknown): Promise<Response> {
  return fetch(`${AUTH_BASE}${path}`, {
    method: "POST",
    headers: { ...COOKIE_MODE, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
}

async function failure(response: Response): Promise<AuthError> {
  let code = "http_" + response.status;
  let message = response.statusText;
  let details: unknown;
  try {
    const body = (await response.json()) as { error?: { code: string; message: string; details?: unknown } };
    if (body.error) ({ code, message, details } = body.error);
  } catch {
    // not JSON
  }
  return new AuthError(response.status, code, message, details);
}

export async function register(username: string, email: string, password: string): Promise<void> {
  const response = await post("/register", { username, email, password });
  if (!response.ok) throw await failure(response);
}

export async function login(loginName: string, password: string): Promise<void> {
  const response = await post("/login", { login: loginName, password });
  if (!response.ok) throw await failure(response);
  keep((await response.json()) as TokenPair);
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request("parley.refresh", fn);
  }
  return fn();
}

let refreshing: Promise<boolean> | null = null;

/** A new token pair from the refresh-token cookie; false when the session is over. */
export function refresh(): Promise<boolean> {
  if (refreshing !== null) return refreshing;
  const before = access?.token;
  refreshing = withLock(async () => {
    // Another tab may have refreshed while we waited for the lock.
    const stored = readStoredAccess();
    if (stored !== null && stored.token !== before && stored.expiresAt - Date.now() > 60000) {
      access = stored;
      return true;
    }
    const response = await post("/refresh");
    if (response.ok) {
      keep((await response.json()) as TokenPair);
      return true;
    }
    if (response.status === 401 || response.status === 403) forget();
    else throw await failure(response);
    return false;
  }).finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** A valid access token, refreshed when it is about to run out (or when `fresh` is asked). */
export async function accessToken(fresh = false): Promise<string> {
  if (!fresh && access !== null && access.expiresAt - Date.now() > 30000) return access.token;
  if (!(await refresh()) || access === null) throw new AuthError(401, "signed_out", "signed out");
  return access.token;
}

/** At start-up: is there a session to continue (a token in this tab, or a refresh token)? */
export async function resume(): Promise<boolean> {
  if (access !== null && access.expiresAt - Date.now() > 30000) return true;
  try {
    return await refresh();
  } catch {
    return false;
  }
}

export async function logout(): Promise<void> {
  try {
    await post("/refresh/logout");
  } finally {
    forget();
  }
}
