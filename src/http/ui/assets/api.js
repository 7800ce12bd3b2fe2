// The /v1 API as the UI uses it: the API key (kept in sessionStorage, sent as X-API-Key), the
// collection the gallery routes go to, JSON errors as ApiError, and a few look-ups every screen
// needs.

const KEY = 'visage.apiKey';
const COLLECTION = 'visage.collection';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** Called with the error and the key the request sent whenever the server answers 401. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export const getKey = () => sessionStorage.getItem(KEY) || '';
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/** The collection the gallery screens work on (`default` unless one was chosen in this tab). */
export const getCollection = () => sessionStorage.getItem(COLLECTION) || 'default';
export function setCollection(id) {
  if (id && id !== 'default') sessionStorage.setItem(COLLECTION, id);
  else sessionStorage.removeItem(COLLECTION);
}

/** The routes that belong to no collection; every other /v1 route is a gallery route. */
const UNSCOPED = /^\/v1\/(detect|embed|folders|collections)(\/|\?|$)/;

/** A gallery route in the chosen collection: `/v1/subjects` → `/v1/collections/{c}/subjects`. */
export function scoped(path) {
  const c = getCollection();
  if (c === 'default' || !path.startsWith('/v1/') || UNSCOPED.test(path)) return path;
  return `/v1/collections/${encodeURIComponent(c)}/${path.slice('/v1/'.length)}`;
}

/**
 * One request. `json` is sent as JSON, `form` as multipart, `body` as is with content `type`.
 * Answers the JSON (or a Blob for other content); throws ApiError for any error status.
 */
export async function call(method, path, { json, form, body, type } = {}) {
  const headers = {};
  const key = getKey();
  if (key) headers['X-API-Key'] = key;
  let payload;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (form) {
    payload = form;
  } else if (body !== undefined) {
    payload = body;
    if (type) headers['Content-Type'] = type;
  }
  let response;
  try {
    response = await fetch(scoped(path), { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, 'network', `the server cannot be reached (${e.message})`);
  }
  const isJson = (response.headers.get('content-type') || '').includes('json');
  const data = isJson ? await response.json() : await response.blob();
  if (!response.ok) {
    const error = new ApiError(response.status, data.code || `http_${response.status}`, data.message || response.statusText);
    if (response.status === 401) unauthorized(error, key);
    throw error;
  }
  return data;
}

export const get = (path) => call('GET', path);

/** `/readyz` (models, gallery size, index kind, whether crops are kept), fetched once. */
let ready = null;
export function readiness(refresh = false) {
  if (!ready || refresh) ready = get('/readyz').catch((e) => { ready = null; throw e; });
  return ready;
}

/** An object URL of a face's aligned crop, or null when none was kept. */
const crops = new Map();
export async function cropUrl(faceId) {
  if (!(await readiness()).keep_crops) return null;
  if (!crops.has(faceId)) {
    crops.set(faceId, call('GET', `/v1/faces/${faceId}/crop`).then((b) => URL.createObjectURL(b)).catch(() => null));
  }
  return crops.get(faceId);
}

/** The subject called exactly `name` (the oldest if several are), or null. */
export async function subjectNamed(name) {
  const page = await get(`/v1/subjects?limit=1000&q=${encodeURIComponent(name)}`);
  return page.subjects.find((s) => s.name === name) || null;
}

/** Refreshes the subject names offered while typing (first 1000 subjects). */
export async function refreshNames() {
  const page = await get('/v1/subjects?limit=1000');
  const list = document.getElementById('subject-names');
  list.replaceChildren(...[...new Set(page.subjects.map((s) => s.name))].map((n) => {
    const o = document.createElement('option');
    o.value = n;
    return o;
  }));
  return page;
}
