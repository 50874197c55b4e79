// The JSON API (docs/API.md) as the page uses it. Every failure becomes an ApiError carrying the
// server's message (errors are {"error": {"code", "message", "details"}}), the HTTP status and,
// for a busy server (503), how many seconds to wait before retrying.

export class ApiError extends Error {
  constructor(message, {status = 0, code = "", details = {}, retryAfter = null} = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
}

// The ApiError for a failed response, from its JSON body when it has one.
async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, a cut connection): the status says enough.
  }
  const e = body && body.error ? body.error : {};
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return new ApiError(e.message || `The server answered ${response.status} ${response.statusText}`, {
    status: response.status,
    code: e.code || "",
    details: e.details,
    retryAfter: Number.isFinite(retry) ? retry : null,
  });
}

// With authentication on, the session's CSRF token (from login or /api/v1/me): every request
// other than GET and HEAD carries it in X-CSRF-Token, as the server requires of cookie requests.
let csrfToken = "";
export function setCsrfToken(token) {
  csrfToken = token || "";
}

function withCsrf(options) {
  const method = (options.method || "GET").toUpperCase();
  if (!csrfToken || method === "GET" || method === "HEAD") return options;
  return {...options, headers: {...(options.headers || {}), "X-CSRF-Token": csrfToken}};
}

// A 401 anywhere means the session ended: the page shows the login form (app.js).
function signalLoggedOut(error, path) {
  if (error.status === 401 && path !== "/api/v1/login") {
    document.dispatchEvent(new CustomEvent("cloister:unauthenticated"));
  }
}

export async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, withCsrf(options));
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError("The service does not answer. Is cloister serve running?");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    signalLoggedOut(error, path);
    throw error;
  }
  return response;
}

export async function getJson(path, options = {}) {
  return (await request(path, options)).json();
}

export const api = {
  status: () => getJson("/api/v1/status"),
  search: (params, options = {}) => getJson(`/api/v1/search?${params}`, options),
  documents: (offset, limit) => getJson(`/api/v1/documents?offset=${offset}&limit=${limit}`),
  document: (id) => getJson(`/api/v1/documents/${encodeURIComponent(id)}`),
  chunks: (id) => getJson(`/api/v1/documents/${encodeURIComponent(id)}/chunks`),
  job: (id) => getJson(`/api/v1/jobs/${encodeURIComponent(id)}`),
  deleteDocument: (id) => getJson(`/api/v1/documents/${encodeURIComponent(id)}`, {method: "DELETE"}),
  originalUrl: (id) => `/api/v1/documents/${encodeURIComponent(id)}/original`,
  me: () => getJson("/api/v1/me"),
  login: (name, password) => getJson("/api/v1/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({name, password}),
  }),
  logout: () => getJson("/api/v1/logout", {method: "POST"}),
};

// Asks with "stream": true and calls onEvent(name, data) for each server-sent event (token,
// sources, done, error) as it arrives. A server that answers plain JSON instead gets one "done".
export async function askStreaming(body, onEvent, signal) {
  const response = await request("/api/v1/ask", {
    method: "POST",
    headers: {"Content-Type": "application/json", Accept: "text/event-stream"},
    body: JSON.stringify({...body, stream: true}),
    signal,
  });
  const type = response.headers.get("Content-Type") || "";
  if (!type.startsWith("text/event-stream")) {
    onEvent("done", await response.json());
    return;
  }
  for await (const {event, data} of serverSentEvents(response.body)) {
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      throw new ApiError(`The answer stream sent an unreadable ${event} event`);
    }
    onEvent(event, parsed);
  }
}

// Parses a text/event-stream body into {event, data} records (the WHATWG format: fields
// "event" and "data", comments starting with ':', events ending at a blank line).
export async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += value;
    // A lone '\r' at the end may be the first half of "\r\n": keep it for the next chunk.
    const keep = buffer.endsWith("\r") ? 1 : 0;
    const text = buffer.slice(0, buffer.length - keep).replace(/\r\n?/g, "\n");
    buffer = text + buffer.slice(buffer.length - keep);
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const record = parseRecord(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (record) yield record;
    }
  }
}

function parseRecord(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? {event, data: data.join("\n")} : null;
}

// Uploads files as multipart/form-data (one "file" part each). XMLHttpRequest rather than fetch
// because only it reports upload progress: onProgress(fraction) as the bytes leave. Resolves to
// the 202 body, {"jobs": [{"id", "name", "state"}]}.
export function uploadFiles(files, onProgress) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/documents");
    if (csrfToken) xhr.setRequestHeader("X-CSRF-Token", csrfToken);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // handled below
      }
      if (xhr.status >= 200 && xhr.status < 300 && body) return resolve(body);
      const e = body && body.error ? body.error : {};
      const retry = Number.parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
      reject(new ApiError(e.message || `The upload failed: the server answered ${xhr.status}`, {
        status: xhr.status, code: e.code || "", details: e.details,
        retryAfter: Number.isFinite(retry) ? retry : null,
      }));
    });
    xhr.addEventListener("error", () => reject(new ApiError("The upload did not reach the service.")));
    xhr.addEventListener("abort", () => reject(new ApiError("The upload was cancelled.")));
    xhr.send(form);
  });
}
