// The public API, called exactly as any program would: bearer tokens, JSON bodies,
// problem+json errors. The token lives in sessionStorage (this tab only), never in a cookie.

const SESSION_KEY = "movie-collections.session";

export class ApiError extends Error {
  constructor(status, detail, problem = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.sessionEnded = false;
  }

  /** The upstream catalogue failed (502/504) or the service is briefly unavailable (503). */
  get isUpstreamFailure() {
    return this.status === 502 || this.status === 503 || this.status === 504;
  }
}

export const session = {
  read() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (!stored || typeof stored.token !== "string") return null;
      return stored;
    } catch {
      return null;
    }
  },
  save(username, answer) {
    const expiresIn = Number(answer.expires_in) || 0;
    const stored = {
      username,
      token: answer.access_token,
      refreshToken: typeof answer.refresh_token === "string" ? answer.refresh_token : null,
      expiresAt: expiresIn > 0 ? Date.now() + expiresIn * 1000 : null,
    };
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(stored));
    return stored;
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

/**
 * `onUnauthorized(detail)` runs when a request made with a token answers 401 (expired or
 * revoked): the caller drops the session and shows the login screen.
 * `onBusyChange(busy)` drives the progress indicator; `onRenewed(session)` is told of each
 * access token obtained with a refresh token.
 */
export function createApi({ onUnauthorized, onBusyChange, onRenewed }) {
  let inFlight = 0;

  function busy(delta) {
    inFlight += delta;
    onBusyChange(inFlight > 0);
  }

  async function send(method, path, body, token, signal = undefined) {
    const headers = { Accept: "application/json, application/problem+json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal,
    });
  }

  let refreshing = null;

  /**
   * Trade a refresh token for a new access token, where the service offers it. Refresh tokens
   * are single use (a reused one revokes the whole login), so concurrent 401s share one call.
   */
  function refresh(current) {
    if (!current.refreshToken) return Promise.resolve(null);
    if (!refreshing) {
      refreshing = (async () => {
        try {
          const response = await send("POST", "/token/refresh/", { refresh_token: current.refreshToken });
          if (!response.ok) return null;
          const renewed = session.save(current.username, await response.json());
          onRenewed(renewed);
          return renewed;
        } catch {
          return null;
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  /** Revoke the refresh token on the server where it has one; the local session goes anyway. */
  async function logout() {
    const current = session.read();
    if (!current?.refreshToken) return;
    try {
      // Logging out must not hang on an unreachable server.
      await send("POST", "/logout/", { refresh_token: current.refreshToken }, null, AbortSignal.timeout(3000));
    } catch {
      // Offline or an older server: the token then simply expires.
    }
  }

  /** `download`: answer the body as a file ({ blob, filename }) instead of parsed JSON. */
  async function request(method, path, body, { auth = true, download = false } = {}) {
    busy(+1);
    try {
      let current = auth ? session.read() : null;
      let response;
      try {
        response = await send(method, path, body, current?.token);
        if (response.status === 401 && current) {
          const renewed = await refresh(current);
          if (renewed) {
            current = renewed;
            response = await send(method, path, body, current.token);
          }
        }
      } catch {
        throw new ApiError(0, "The service cannot be reached. Check your connection and try again.");
      }
      if (response.ok && download) return { blob: await response.blob(), filename: filenameOf(response) };
      const data = await parseBody(response);
      if (response.ok) return data;
      const error = new ApiError(response.status, describeProblem(response.status, data), data);
      if (response.status === 401 && current) {
        // The session is over; the login screen replaces the view, so views stay quiet.
        error.sessionEnded = true;
        onUnauthorized(error.message);
      }
      throw error;
    } finally {
      busy(-1);
    }
  }

  return {
    logout,
    /** A new access token from the refresh token, or null when there is none or it is refused. */
    renew: () => {
      const current = session.read();
      return current ? refresh(current) : Promise.resolve(null);
    },
    register: (username, password) =>
      request("POST", "/register/", { username, password }, { auth: false }),
    login: (username, password) => request("POST", "/login/", { username, password }, { auth: false }),
    movies: (page) => request("GET", `/movies/?page=${encodeURIComponent(page)}`),
    /** One page of my collections: `query` has limit, and maybe cursor, sort and q. */
    collections: (query) => request("GET", `/collection/?${new URLSearchParams(query)}`),
    collection: (id) => request("GET", `/collection/${encodeURIComponent(id)}/`),
    createCollection: (payload) => request("POST", "/collection/", payload),
    updateCollection: (id, changes) => request("PUT", `/collection/${encodeURIComponent(id)}/`, changes),
    deleteCollection: (id) => request("DELETE", `/collection/${encodeURIComponent(id)}/`),
    addMovies: (id, movies) => request("POST", `/collection/${encodeURIComponent(id)}/movies/`, { movies }),
    /** Set a movie's note (null removes it) and/or its 0-based position. */
    changeMovie: (id, movieId, changes) =>
      request("PATCH", `/collection/${encodeURIComponent(id)}/movies/${encodeURIComponent(movieId)}/`, changes),
    shareLink: (id) => request("GET", `/collection/${encodeURIComponent(id)}/share/`),
    share: (id) => request("POST", `/collection/${encodeURIComponent(id)}/share/`),
    unshare: (id) => request("DELETE", `/collection/${encodeURIComponent(id)}/share/`),
    shared: (token) => request("GET", `/shared/${encodeURIComponent(token)}/`),
    copyShared: (token) => request("POST", `/shared/${encodeURIComponent(token)}/copy/`),
    exportCollections: (format) =>
      request("GET", `/collection/export/?format=${encodeURIComponent(format)}`, undefined, { download: true }),
    importCollections: (document) => request("POST", "/collection/import/", document),
    requestCount: () => request("GET", "/request-count/"),
    resetRequestCount: () => request("POST", "/request-count/reset/"),
  };
}

async function parseBody(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** The file name of a Content-Disposition: attachment answer. */
function filenameOf(response) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = disposition.match(/filename="?([^";]+)"?/);
  return match ? match[1] : "download";
}

function describeProblem(status, problem) {
  if (problem && typeof problem.detail === "string" && problem.detail) {
    const fieldErrors = Array.isArray(problem.errors)
      ? problem.errors
          .filter((error) => error && error.message)
          .map((error) => `${friendlyField(error.field)}: ${error.message}`)
      : [];
    return fieldErrors.length ? `${problem.detail} ${fieldErrors.join("; ")}.` : problem.detail;
  }
  return `The service answered with status ${status}.`;
}

function friendlyField(field) {
  // "body.movies.0.title" -> "movies 1 title": readable for people, still precise.
  return String(field || "")
    .split(".")
    .filter((part) => part !== "body" && part !== "query")
    .map((part) => (/^\d+$/.test(part) ? String(Number(part) + 1) : part))
    .join(" ");
}
