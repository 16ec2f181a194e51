// callrec recordings browser: a small ES module over the Crossbar API of the same origin.
// Views: #/login, #/calls (interactions), #/calls/<interaction id> (legs and recordings),
// #/settings (call_recording of the account, a user or a device). The token lives in
// sessionStorage (this tab only); any 401 sends the tab back to the login page.

import { md5Hex } from "./md5.js";

const SESSION = "callrec.session";
const POLL_MS = 2000;
const PAGE_SIZE = 25;
const GREGORIAN_UNIX = 62167219200;
const DIRECTIONS = ["inbound", "outbound", "internal", "forwarded"];
const SETTINGS = [
  { key: "enabled", label: "Enabled", kind: "bool" },
  { key: "format", label: "Format", kind: "choice", choices: ["wav", "mp3"] },
  { key: "record_min_sec", label: "Minimum length (s)", kind: "int" },
  { key: "record_on_answer", label: "Start on answer", kind: "bool" },
  { key: "record_on_bridge", label: "Start on bridge", kind: "bool" },
  { key: "record_sample_rate", label: "Sample rate (Hz)", kind: "int" },
  { key: "time_limit", label: "Time limit (s)", kind: "int" },
  { key: "url", label: "Upload URL", kind: "url" },
];
const RULES = [
  ["inbound", "offnet", "Inbound · off-net", "calls in from the PSTN"],
  ["inbound", "onnet", "Inbound · on-net", "calls in from our own phones"],
  ["outbound", "offnet", "Outbound · off-net", "calls out to the PSTN"],
  ["outbound", "onnet", "Outbound · on-net", "calls out to our own phones"],
];

const main = document.getElementById("main");
let flash = "";
let pollTimer = null;
let blobs = [];
let cleanups = []; // undo what a view registered outside its own elements
let names = null; // { users: Map, devices: Map }
let pageKeys = []; // start keys of the pages before the current one
let viewToken = 0; // bumps on every navigation: late replies of an old view are dropped

// ---------- session and API ----------

function session() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION) || "null");
  } catch {
    return null;
  }
}

function setSession(s) {
  if (s) sessionStorage.setItem(SESSION, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION);
  names = null;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

function expired() {
  setSession(null);
  flash = "Your session has expired. Please log in again.";
  if (location.hash !== "#/login") location.hash = "#/login";
  else route();
}

async function api(method, path, data) {
  const s = session();
  const headers = { Accept: "application/json" };
  if (s) headers["X-Auth-Token"] = s.token;
  const init = { method, headers };
  if (data !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify({ data });
  }
  const r = await fetch(path, init);
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  if (r.status === 401 && s) {
    expired();
    throw new ApiError(401, body);
  }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

function accountPath(rest = "") {
  return `/v2/accounts/${encodeURIComponent(session().account_id)}${rest}`;
}

// ---------- DOM helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
const ARROWS = {
  inbound: "M17 7 7 17M7 9v8h8",
  outbound: "M7 17 17 7M9 7h8v8",
  internal: "M4 12h16M8 8l-4 4 4 4M16 8l4 4-4 4",
  forwarded: "M5 18v-4a5 5 0 0 1 5-5h9M15 5l4 4-4 4",
};

function directionBadge(dir) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "14");
  svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(SVG, "path");
  p.setAttribute("d", ARROWS[dir] || ARROWS.internal);
  p.setAttribute("fill", "none");
  p.setAttribute("stroke", "currentColor");
  p.setAttribute("stroke-width", "2.5");
  p.setAttribute("stroke-linecap", "round");
  p.setAttribute("stroke-linejoin", "round");
  svg.append(p);
  return h("span", { class: `dir dir-${dir}`, "data-direction": dir }, h("span", { class: "icon" }, svg), dir);
}

function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => (el.textContent = text), 50);
}

function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function fmtClock(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toLocaleTimeString(undefined, { timeStyle: "medium" });
}

function fmtDuration(s) {
  if (s === null || s === undefined) return "";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

function startMs(row) {
  return row.start_unix_ms ?? (row.timestamp - GREGORIAN_UNIX) * 1000;
}

function party(p) {
  if (!p) return "";
  const bits = [p.name, p.number].filter(Boolean);
  if (bits.length === 2 && bits[0] === bits[1]) return bits[0];
  return bits.join(" · ") || "unknown";
}

function clearTimers() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  for (const u of blobs) URL.revokeObjectURL(u);
  blobs = [];
  for (const undo of cleanups) undo();
  cleanups = [];
}

// ---------- names of users and devices ----------

async function loadNames() {
  if (names) return names;
  const out = { users: new Map(), devices: new Map() };
  const [users, devices] = await Promise.allSettled([api("GET", accountPath("/users")), api("GET", accountPath("/devices"))]);
  if (users.status === "fulfilled") {
    for (const u of users.value.data || []) {
      const full = [u.first_name, u.last_name].filter(Boolean).join(" ");
      out.users.set(u.id, full || u.username || u.id);
    }
  }
  if (devices.status === "fulfilled") {
    for (const d of devices.value.data || []) out.devices.set(d.id, d.name || d.id);
  }
  names = out;
  return out;
}

function ours(row) {
  const n = names || { users: new Map(), devices: new Map() };
  const users = (row.owner_ids || []).map((id) => n.users.get(id) || id);
  const devices = (row.device_ids || []).map((id) => n.devices.get(id) || id);
  return [users.join(", "), devices.join(", ")].filter(Boolean).join(" / ");
}

// ---------- router ----------

function route() {
  clearTimers();
  viewToken += 1;
  const s = session();
  const hash = location.hash || "#/calls";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const nav = document.getElementById("nav");
  nav.hidden = !s;
  for (const a of nav.querySelectorAll("a")) {
    const here = path.startsWith(a.getAttribute("href").slice(1));
    if (here) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!s) {
    if (path !== "/login") {
      location.hash = "#/login";
      return;
    }
    return renderLogin();
  }
  document.getElementById("who").textContent = `${s.username} · ${s.account_name}`;
  if (path === "/login") {
    location.hash = "#/calls";
    return;
  }
  if (path.startsWith("/calls/")) return renderDetail(decodeURIComponent(path.slice("/calls/".length)));
  if (path === "/settings") return renderSettings(params);
  return renderCalls(params);
}

function show(title, ...content) {
  document.title = `${title} · callrec`;
  main.replaceChildren(...content.flat());
}

// ---------- login ----------

function renderLogin() {
  const error = h("div", { class: "alert", id: "login-error", role: "alert" }, flash);
  flash = "";
  const field = (id, label, type, autocomplete) =>
    h("div", {}, h("label", { for: id }, label), h("input", { id, name: id, type, autocomplete, required: true }));
  const form = h(
    "form",
    { id: "login-form", "aria-labelledby": "login-title", novalidate: true },
    field("login-username", "Username", "text", "username"),
    field("login-password", "Password", "password", "current-password"),
    field("login-account", "Account name", "text", "organization"),
    h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.querySelector("#login-username").value.trim();
    const password = form.querySelector("#login-password").value;
    const account = form.querySelector("#login-account").value.trim();
    if (!username || !password || !account) {
      error.textContent = "Enter your username, password and account name.";
      return;
    }
    const button = form.querySelector("#login-submit");
    button.disabled = true;
    error.textContent = "";
    try {
      const r = await fetch("/v2/user_auth", {
        method: "PUT",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ data: { credentials: md5Hex(`${username}:${password}`), account_name: account } }),
      });
      const body = await r.json().catch(() => null);
      if (r.status !== 201 || !body || !body.auth_token) {
        error.textContent =
          r.status === 429
            ? "Too many failed logins. Wait a minute and try again."
            : r.status === 401
              ? "The username, password or account name is wrong."
              : `Login failed (${(body && body.message) || r.status}).`;
        form.querySelector("#login-password").focus();
        return;
      }
      setSession({
        token: body.auth_token,
        account_id: body.data.account_id,
        account_name: body.data.account_name || account,
        owner_id: body.data.owner_id,
        priv_level: body.data.priv_level,
        username,
      });
      location.hash = "#/calls";
    } catch (err) {
      error.textContent = `Login failed: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
  show("Log in", h("section", { class: "login card" }, h("h1", { id: "login-title" }, "Log in"), error, form));
  form.querySelector("#login-username").focus();
}

// ---------- calls (interactions) ----------

function toGregorian(dateStr, endOfDay) {
  if (!dateStr) return null;
  const [y, m, d] = dateStr.split("-").map(Number);
  const t = endOfDay ? new Date(y, m - 1, d, 23, 59, 59) : new Date(y, m - 1, d, 0, 0, 0);
  return Math.floor(t.getTime() / 1000) + GREGORIAN_UNIX;
}

function callsQuery(params, start) {
  const q = new URLSearchParams({ page_size: String(PAGE_SIZE) });
  const from = toGregorian(params.get("from"), false);
  const to = toGregorian(params.get("to"), true);
  if (from !== null) q.set("created_from", String(from));
  if (to !== null) q.set("created_to", String(to));
  if (from !== null && to === null) q.set("created_to", String(Math.floor(Date.now() / 1000) + GREGORIAN_UNIX + 3600));
  if (params.get("direction")) q.set("direction", params.get("direction"));
  if (params.get("q")) q.set("q", params.get("q"));
  if (start) q.set("start_key", start);
  return accountPath(`/cdrs/interaction?${q}`);
}

function recordingsCell(row) {
  if (!row.recording_count) return h("span", { class: "muted" }, "none");
  return h(
    "span",
    {},
    `${row.recording_count} `,
    (row.recording_states || []).map((s) => h("span", { class: `badge state-${s}` }, s)),
  );
}

function callRow(row) {
  const href = `#/calls/${encodeURIComponent(row.interaction_id)}`;
  const tr = h(
    "tr",
    { "data-interaction": row.interaction_id, "data-direction": row.end_user_direction },
    h("td", { "data-label": "Start" }, h("a", { href, class: "row-link" }, fmtTime(startMs(row)))),
    h("td", { "data-label": "Direction" }, directionBadge(row.end_user_direction)),
    h(
      "td",
      { "data-label": "Other party", class: "other-party" },
      party(row.other_party),
      row.forwarded_to ? h("div", { class: "muted" }, `forwarded to ${party(row.forwarded_to)}`) : null,
    ),
    h("td", { "data-label": "Our user / device", class: "ours" }, ours(row)),
    h("td", { "data-label": "Duration", class: "num" }, fmtDuration(row.duration_seconds)),
    h("td", { "data-label": "Recordings", class: "recordings" }, recordingsCell(row)),
  );
  tr.addEventListener("click", (e) => {
    if (e.target.closest("a")) return;
    location.hash = href;
  });
  return tr;
}

async function renderCalls(params) {
  const token = viewToken;
  const start = params.get("start") || null;
  if (!start) pageKeys = [];
  await loadNames().catch(() => null);
  if (token !== viewToken) return;
  const input = (id, label, attrs) => h("div", {}, h("label", { for: id }, label), h("input", { id, name: id, ...attrs }));
  const dirSelect = h(
    "select",
    { id: "f-direction", name: "direction" },
    h("option", { value: "" }, "All"),
    DIRECTIONS.map((d) => h("option", { value: d, selected: params.get("direction") === d }, d)),
  );
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter calls", id: "filters" },
    input("f-from", "From date", { type: "date", value: params.get("from") || "" }),
    input("f-to", "To date", { type: "date", value: params.get("to") || "" }),
    h("div", {}, h("label", { for: "f-direction" }, "Direction"), dirSelect),
    input("f-q", "Number or name", { type: "search", value: params.get("q") || "", autocomplete: "off" }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Filter"),
      h("button", { type: "button", class: "secondary", id: "f-clear" }, "Clear"),
    ),
  );
  const apply = (e) => {
    if (e) e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, id] of [["from", "f-from"], ["to", "f-to"], ["direction", "f-direction"], ["q", "f-q"]]) {
      const v = filters.querySelector(`#${id}`).value.trim();
      if (v) q.set(k, v);
    }
    location.hash = `#/calls${q.toString() ? `?${q}` : ""}`;
  };
  filters.addEventListener("submit", apply);
  dirSelect.addEventListener("change", apply);
  filters.querySelector("#f-clear").addEventListener("click", () => (location.hash = "#/calls"));

  const tbody = h("tbody", { id: "calls-body" });
  const status = h("div", { class: "alert", role: "alert", id: "calls-error" });
  const live = h("span", { class: "live", id: "calls-live" }, start ? "" : "Updates every 2 seconds");
  const table = h(
    "table",
    { class: "calls", id: "calls" },
    h("caption", {}, "Calls, newest first. Choose a call to see its legs and recordings."),
    h(
      "thead",
      {},
      h("tr", {}, ["Start", "Direction", "Other party", "Our user / device", "Duration", "Recordings"].map((t) => h("th", { scope: "col" }, t))),
    ),
    tbody,
  );
  const newer = h("button", { type: "button", class: "secondary", id: "page-newer", disabled: !start }, "← Newer");
  const older = h("button", { type: "button", class: "secondary", id: "page-older", disabled: true }, "Older →");
  let nextKey = null;
  newer.addEventListener("click", () => {
    const prev = pageKeys.pop();
    const q = new URLSearchParams(params);
    if (prev) q.set("start", prev);
    else q.delete("start");
    location.hash = `#/calls${q.toString() ? `?${q}` : ""}`;
  });
  older.addEventListener("click", () => {
    if (!nextKey) return;
    pageKeys.push(start || "");
    const q = new URLSearchParams(params);
    q.set("start", nextKey);
    location.hash = `#/calls?${q}`;
  });
  show("Calls", h("h1", {}, "Calls"), filters, status, h("div", { class: "table-wrap" }, table), h("div", { class: "pager" }, newer, older, live));

  let last = "";
  const load = async () => {
    try {
      const r = await api("GET", callsQuery(params, start));
      if (token !== viewToken) return;
      status.textContent = "";
      const text = JSON.stringify(r.data);
      nextKey = r.next_start_key || null;
      older.disabled = !nextKey;
      if (text !== last) {
        const focused = document.activeElement && document.activeElement.closest("tr[data-interaction]");
        const focusId = focused && focused.dataset.interaction;
        const isFirst = last !== "";
        last = text;
        tbody.replaceChildren(
          ...(r.data.length
            ? r.data.map(callRow)
            : [h("tr", {}, h("td", { colspan: "6", class: "muted" }, "No calls match."))]),
        );
        if (focusId) {
          const again = tbody.querySelector(`tr[data-interaction="${CSS.escape(focusId)}"] a`);
          if (again) again.focus();
        }
        if (isFirst) announce("The list of calls was updated.");
      }
    } catch (err) {
      if (token !== viewToken || err.status === 401) return;
      status.textContent = `Could not load the calls: ${err.message}`;
    }
    if (!start && token === viewToken && document.visibilityState !== "hidden") {
      pollTimer = setTimeout(load, POLL_MS);
    } else if (!start && token === viewToken) {
      pollTimer = setTimeout(load, POLL_MS * 5);
    }
  };
  await load();
}

// ---------- one interaction ----------

function fileNameOf(response, fallback) {
  const cd = response.headers.get("content-disposition") || "";
  const m = /filename="?([^";]+)"?/.exec(cd);
  return m ? m[1] : fallback;
}

function drawLane(canvas, samples, progress) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.floor(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.floor(canvas.clientHeight * dpr));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, width, height);
  const mid = height / 2;
  const per = Math.max(1, Math.floor(samples.length / width));
  const played = Math.floor(progress * width);
  for (let x = 0; x < width; x++) {
    let lo = 0;
    let hi = 0;
    const from = x * per;
    for (let i = from; i < from + per && i < samples.length; i++) {
      const v = samples[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    g.fillStyle = x < played ? "#1f4e79" : "#8c959f";
    g.fillRect(x, mid - hi * mid, 1, Math.max(1, (hi - lo) * mid));
  }
  g.fillStyle = "#e8473c";
  g.fillRect(Math.min(played, width - 1), 0, Math.max(1, dpr), height);
}

async function loadAudio(rec, holder, labels) {
  const s = session();
  const accept = rec.format === "mp3" ? "audio/mpeg" : "audio/wav";
  const msg = holder.querySelector(".audio-status");
  let response;
  try {
    response = await fetch(accountPath(`/recordings/${encodeURIComponent(rec.id)}`), {
      headers: { "X-Auth-Token": s.token, Accept: accept },
    });
  } catch (err) {
    msg.textContent = `The audio could not be loaded: ${err.message}`;
    return;
  }
  if (response.status === 401) return expired();
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    msg.textContent =
      (body && body.data && body.data.message) ||
      (rec.state === "stored" ? "The audio was uploaded and is not kept on this node." : "The audio is not available on this node.");
    return;
  }
  const bytes = await response.arrayBuffer();
  const type = response.headers.get("content-type") || accept;
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  blobs.push(url);
  const audio = holder.querySelector("audio");
  audio.src = url;
  audio.hidden = false;
  const dl = holder.querySelector("a.download");
  dl.href = url;
  dl.download = fileNameOf(response, `${rec.id}.${rec.format || "wav"}`);
  dl.hidden = false;
  msg.textContent = "";
  // The waveform: decoded here from the bytes already fetched for playing (no second request).
  let decoded;
  try {
    const ctx = new OfflineAudioContext(1, 1, rec.sample_rate || 8000);
    decoded = await ctx.decodeAudioData(bytes.slice(0));
  } catch (err) {
    msg.textContent = `No waveform: the audio could not be decoded (${err.message}).`;
    return;
  }
  const lanes = holder.querySelector(".lanes");
  const channels = Math.min(decoded.numberOfChannels, 2);
  const canvases = [];
  for (let c = 0; c < channels; c++) {
    const label = channels === 1 ? "Both parties (mono)" : labels[c];
    const canvas = h("canvas", { role: "img", "aria-label": `Waveform of ${label}` });
    canvas.addEventListener("click", (e) => {
      const r = canvas.getBoundingClientRect();
      if (audio.duration) audio.currentTime = ((e.clientX - r.left) / r.width) * audio.duration;
    });
    lanes.append(h("div", { class: "lane", "data-channel": String(c) }, h("span", { class: "lane-label" }, label), canvas));
    canvases.push([canvas, decoded.getChannelData(c)]);
  }
  const redraw = () => {
    const p = audio.duration ? audio.currentTime / audio.duration : 0;
    for (const [canvas, data] of canvases) drawLane(canvas, data, p);
  };
  redraw();
  for (const ev of ["timeupdate", "seeked", "loadedmetadata"]) audio.addEventListener(ev, redraw);
  window.addEventListener("resize", redraw);
  cleanups.push(() => window.removeEventListener("resize", redraw));
  holder.dataset.loaded = "true";
}

function laneLabels(row) {
  const n = names || { users: new Map() };
  const ourName = (row.owner_ids || []).map((id) => n.users.get(id) || id).join(", ");
  const caller = party(row.caller);
  const callee = party(row.callee);
  const dir = row.end_user_direction;
  const left = dir === "outbound" || dir === "internal" ? `${caller}${ourName ? ` (${ourName})` : ""}` : caller;
  const right = dir === "inbound" ? `${callee}${ourName ? ` (${ourName})` : ""}` : callee;
  return [`Left: caller ${left}`, `Right: callee ${right}`];
}

async function renderDetail(id) {
  const token = viewToken;
  show("Call", h("p", { class: "muted" }, "Loading…"));
  await loadNames().catch(() => null);
  let row;
  let legs;
  try {
    const [a, b] = await Promise.all([
      api("GET", accountPath(`/cdrs/interaction/${encodeURIComponent(id)}`)),
      api("GET", accountPath(`/cdrs/legs/${encodeURIComponent(id)}`)),
    ]);
    row = a.data;
    legs = b.data;
  } catch (err) {
    if (token !== viewToken || err.status === 401) return;
    show("Call", h("h1", {}, "Call"), h("div", { class: "alert", role: "alert" }, `Could not load this call: ${err.message}`), h("a", { href: "#/calls" }, "Back to the calls"));
    return;
  }
  if (token !== viewToken) return;
  const n = names || { users: new Map(), devices: new Map() };
  const facts = h(
    "dl",
    { class: "facts card" },
    h("dt", {}, "Direction"),
    h("dd", {}, directionBadge(row.end_user_direction)),
    h("dt", {}, "Other party"),
    h("dd", { id: "detail-other" }, party(row.other_party)),
    h("dt", {}, "Our user / device"),
    h("dd", {}, ours(row) || "none"),
    h("dt", {}, "Started"),
    h("dd", {}, fmtTime(startMs(row))),
    h("dt", {}, "Duration"),
    h("dd", {}, `${fmtDuration(row.duration_seconds)} (talking ${fmtDuration(row.billing_seconds)})`),
    h("dt", {}, "Hang-up cause"),
    h("dd", {}, row.hangup_cause || ""),
    h("dt", {}, "Interaction id"),
    h("dd", {}, h("code", {}, row.interaction_id)),
  );
  const legRows = legs.map((l) => {
    const ccv = l.custom_channel_vars || {};
    return h(
      "tr",
      { "data-call-direction": l.call_direction },
      h("td", {}, l.call_direction),
      h("td", {}, ccv.resource_type || "device"),
      h("td", {}, ccv.owner_id ? n.users.get(ccv.owner_id) || ccv.owner_id : ""),
      h(
        "td",
        {},
        !ccv.authorizing_id
          ? ""
          : l.network === "offnet"
            ? `resource ${ccv.authorizing_id}`
            : n.devices.get(ccv.authorizing_id) || ccv.authorizing_id,
      ),
      h("td", {}, [l.caller_id_number, l.callee_id_number].filter(Boolean).join(" → ")),
      h("td", {}, l.hangup_cause || ""),
      h("td", { class: "num" }, fmtClock(l.created_unix_ms)),
      h("td", { class: "num" }, l.answered_unix_ms ? fmtClock(l.answered_unix_ms) : "not answered"),
      h("td", { class: "num" }, fmtClock(l.ended_unix_ms)),
      h("td", { class: "num" }, fmtDuration(l.duration_seconds)),
    );
  });
  const legsTable = h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "legs" },
      h("caption", {}, "Every leg of this call, oldest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Call direction", "Resource type", "User", "Device", "From → to", "Hang-up cause", "Started", "Answered", "Ended", "Duration"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h("tbody", {}, legRows),
    ),
  );
  const labels = laneLabels(row);
  const recs = (row.recordings || []).map((rec, i) => {
    const title = `Recording ${i + 1}: ${rec.origin || "recording"}`;
    const headingId = `rec-${i}-title`;
    const holder = h(
      "article",
      { class: "recording card", "aria-labelledby": headingId, "data-recording": rec.id, "data-state": rec.state },
      h("div", { class: "head" }, h("h3", { id: headingId }, title), h("span", { class: `badge state-${rec.state}` }, rec.state)),
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Origin"),
        h("dd", {}, rec.origin || ""),
        h("dt", {}, "Format"),
        h("dd", {}, `${rec.format || ""}${rec.sample_rate ? `, ${rec.sample_rate} Hz` : ""}${rec.channels ? `, ${rec.channels} channel${rec.channels > 1 ? "s" : ""}` : ""}`),
        h("dt", {}, "Duration"),
        h("dd", {}, rec.duration_ms !== undefined && rec.duration_ms !== null ? fmtDuration(rec.duration_ms / 1000) : "still recording"),
        h("dt", {}, "Upload state"),
        h("dd", { class: "rec-state" }, rec.state),
        h("dt", {}, "Last error"),
        h("dd", { class: "rec-error" }, rec.last_error || "none"),
      ),
      h(
        "div",
        { class: "player" },
        h("audio", { controls: true, preload: "auto", hidden: true, "aria-label": `${title}: audio` }),
        h("div", { class: "lanes" }),
        h(
          "div",
          { class: "tools" },
          h("a", { class: "button download", hidden: true }, "Download"),
          h("span", { class: "audio-status muted", role: "status" }, "Loading the audio…"),
        ),
      ),
    );
    return holder;
  });
  show(
    "Call",
    h("p", {}, h("a", { href: "#/calls" }, "← All calls")),
    h("h1", { id: "detail-title" }, `Call of ${fmtTime(startMs(row))}`),
    facts,
    h("h2", {}, "Legs"),
    legsTable,
    h("h2", {}, `Recordings (${recs.length})`),
    recs.length ? recs : h("p", { class: "muted" }, "This call was not recorded."),
  );
  main.focus({ preventScroll: true });
  (row.recordings || []).forEach((rec, i) => {
    if (rec.state === "recording" || rec.state === "discarded") {
      recs[i].querySelector(".audio-status").textContent =
        rec.state === "recording" ? "Still recording." : "Discarded: shorter than its minimum length.";
      return;
    }
    loadAudio(rec, recs[i], labels);
  });
}

// ---------- recording settings ----------

function ruleFieldId(dir, net, key) {
  return `cr-${dir}-${net}-${key}`;
}

function settingsForm(rules) {
  const sets = RULES.map(([dir, net, title, hint]) => {
    const current = ((rules || {})[dir] || {})[net] || {};
    const fields = SETTINGS.map((s) => {
      const id = ruleFieldId(dir, net, s.key);
      const errId = `${id}-error`;
      const v = current[s.key];
      let control;
      if (s.kind === "bool" || s.kind === "choice") {
        const choices = s.kind === "bool" ? [["true", "yes"], ["false", "no"]] : s.choices.map((c) => [c, c]);
        control = h(
          "select",
          { id, name: id, "aria-describedby": errId },
          h("option", { value: "" }, "not set"),
          choices.map(([value, text]) => h("option", { value, selected: v !== undefined && String(v) === value }, text)),
        );
      } else {
        control = h("input", {
          id,
          name: id,
          type: "text",
          inputmode: s.kind === "int" ? "numeric" : "url",
          value: v === undefined || v === null ? "" : String(v),
          "aria-describedby": errId,
          autocomplete: "off",
        });
      }
      return h("div", { class: "field" }, h("label", { for: id }, s.label), control, h("p", { class: "field-error", id: errId }));
    });
    return h("fieldset", {}, h("legend", {}, title), h("p", { class: "muted hint", text: hint }), fields);
  });
  return h("div", { class: "rules" }, sets);
}

function collectRules(form) {
  const out = {};
  for (const [dir, net] of RULES) {
    const rule = {};
    let any = false;
    for (const s of SETTINGS) {
      const raw = form.querySelector(`#${ruleFieldId(dir, net, s.key)}`).value.trim();
      let v = null;
      if (raw !== "") {
        any = true;
        if (s.kind === "bool") v = raw === "true";
        else if (s.kind === "int") v = /^-?\d+$/.test(raw) ? Number(raw) : raw; // the API names a bad type
        else v = raw;
      }
      rule[s.key] = v;
    }
    out[dir] = out[dir] || {};
    out[dir][net] = any ? rule : null;
  }
  for (const dir of Object.keys(out)) {
    if (Object.values(out[dir]).every((v) => v === null)) out[dir] = null;
  }
  return out;
}

async function renderSettings(params) {
  const token = viewToken;
  const s = session();
  await loadNames().catch(() => null);
  if (token !== viewToken) return;
  const admin = s.priv_level === "admin";
  const targets = [];
  if (admin) {
    targets.push(["account:account", "Account: calls of the whole account"]);
    targets.push(["account:endpoint", "Account: every user and device (endpoint)"]);
  }
  const n = names || { users: new Map(), devices: new Map() };
  const users = [...n.users].map(([id, name]) => [`user:${id}`, `User: ${name}`]);
  const devices = [...n.devices].map(([id, name]) => [`device:${id}`, `Device: ${name}`]);
  const wanted = params.get("target") || (targets[0] || users[0] || devices[0] || [""])[0];
  const group = (label, list) =>
    list.length ? h("optgroup", { label }, list.map(([v, t]) => h("option", { value: v, selected: v === wanted }, t))) : null;
  const select = h("select", { id: "s-target", name: "target" }, group("Account", targets), group("Users", users), group("Devices", devices));
  select.addEventListener("change", () => (location.hash = `#/settings?target=${encodeURIComponent(select.value)}`));
  const body = h("div", { id: "settings-body" }, h("p", { class: "muted" }, "Loading…"));
  show(
    "Recording settings",
    h("h1", {}, "Recording settings"),
    h(
      "p",
      { class: "muted" },
      "call_recording rules per direction and network. A setting left “not set” is inherited (an endpoint's rule falls back to the account's). Changes apply to the next call.",
    ),
    h("div", { class: "target" }, h("div", {}, h("label", { for: "s-target" }, "Settings of"), select)),
    body,
  );
  if (!wanted) {
    body.replaceChildren(h("p", {}, "There is nothing you may edit."));
    return;
  }
  const [kind, id] = [wanted.slice(0, wanted.indexOf(":")), wanted.slice(wanted.indexOf(":") + 1)];
  const docPath = kind === "account" ? accountPath("") : accountPath(`/${kind}s/${encodeURIComponent(id)}`);
  let doc;
  try {
    doc = (await api("GET", docPath)).data;
  } catch (err) {
    if (token !== viewToken || err.status === 401) return;
    body.replaceChildren(h("div", { class: "alert", role: "alert" }, `Could not load the settings: ${err.message}`));
    return;
  }
  if (token !== viewToken) return;
  const cr = doc.call_recording || {};
  const rules = kind === "account" ? cr[id] : cr;
  const general = h("div", { class: "alert", role: "alert", id: "settings-error" });
  const saved = h("div", { class: "notice", role: "status", id: "settings-saved" });
  const form = h(
    "form",
    { id: "settings-form", novalidate: true, "aria-label": `Recording settings of ${select.selectedOptions[0]?.textContent || wanted}` },
    general,
    settingsForm(rules),
    h("div", { class: "save-row" }, h("button", { type: "submit", class: "primary", id: "settings-save" }, "Save"), saved),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    general.textContent = "";
    saved.textContent = "";
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    const collected = collectRules(form);
    const patch = kind === "account" ? { call_recording: { [id]: collected } } : { call_recording: collected };
    const button = form.querySelector("#settings-save");
    button.disabled = true;
    try {
      await api("PATCH", docPath, patch);
      saved.textContent = "Saved. The next call uses these settings.";
      announce("Saved.");
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 400 && err.body && err.body.data && typeof err.body.data === "object") {
        const prefix = kind === "account" ? `call_recording.${id}.` : "call_recording.";
        const loose = [];
        let first = null;
        for (const [path, rulesOfPath] of Object.entries(err.body.data)) {
          const messages = Object.values(rulesOfPath || {})
            .map((r) => (r && r.message) || "")
            .filter(Boolean)
            .join("; ");
          const rest = path.startsWith(prefix) ? path.slice(prefix.length).split(".") : [];
          const el = rest.length === 3 ? form.querySelector(`#${ruleFieldId(rest[0], rest[1], rest[2])}`) : null;
          if (el) {
            el.setAttribute("aria-invalid", "true");
            form.querySelector(`#${el.id}-error`).textContent = messages || "invalid";
            first = first || el;
          } else {
            loose.push(`${path}: ${messages || "invalid"}`);
          }
        }
        general.textContent = `Not saved. ${loose.length ? loose.join(". ") : "Correct the fields marked below."}`;
        if (first) first.focus();
      } else if (err.status === 409) {
        general.textContent = "Not saved: the settings were changed elsewhere. Reload the page and try again.";
      } else {
        general.textContent = `Not saved: ${err.message}`;
      }
    } finally {
      button.disabled = false;
    }
  });
  body.replaceChildren(form);
}

// ---------- start ----------

document.getElementById("logout").addEventListener("click", () => {
  setSession(null);
  flash = "You are logged out.";
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
