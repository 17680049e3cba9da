// The migration dashboard: polls the service's API and draws the cutover batch, its
// mailboxes and a mailbox's skipped items. No framework; everything it shows comes
// from /api/v1 with the bearer token, which never leaves this tab (sessionStorage).
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "cutover-token";

const PAGE_SIZE = 50;

const api = {
  batches: () => get("/api/v1/batches"),
  // One page of the batch's mailboxes, filtered and sorted by the service.
  users: async (batch, view) => {
    const q = new URLSearchParams({
      offset: String(view.offset),
      limit: String(PAGE_SIZE),
      sort: view.sort,
      order: view.descending ? "desc" : "asc",
    });
    if (view.filter) q.set("filter", view.filter);
    const response = await call("GET", `/api/v1/batches/${encodeURIComponent(batch)}/users?${q}`);
    return { users: await response.json(), total: Number(response.headers.get("X-Total-Count") || 0) };
  },
  throughput: (batch) => get(`/api/v1/batches/${encodeURIComponent(batch)}/throughput`),
  // Reads both directories: asked for on a batch's first showing, a click, a refused start.
  preflight: (batch) => get(`/api/v1/batches/${encodeURIComponent(batch)}/preflight`),
  licenses: () => get("/api/v1/licenses"),
  skus: () => get("/api/v1/licenses/skus"),
  endpoints: () => get("/api/v1/endpoints"),
  endpoint: (name) => get(`/api/v1/endpoints/${encodeURIComponent(name)}`),
  target: () => get("/api/v1/target"),
  createBatch: (body) => send("POST", "/api/v1/batches", body),
  statistics: (email) => get(`/api/v1/users/${encodeURIComponent(email)}/statistics?include_skipped_items=true`),
  start: (batch) => send("POST", `/api/v1/batches/${encodeURIComponent(batch)}/start`),
  stop: (batch) => send("POST", `/api/v1/batches/${encodeURIComponent(batch)}/stop`),
  approveRemovals: (batch) =>
    send("POST", `/api/v1/batches/${encodeURIComponent(batch)}/approve-removals`),
  remove: (batch, force) =>
    send("DELETE", `/api/v1/batches/${encodeURIComponent(batch)}${force ? "?force=true" : ""}`),
};

const $ = (id) => document.getElementById(id);
let token = null;
let batchName = null;
let selected = null;
let timer = null;
// Which page of mailboxes the table shows: the service filters, sorts and slices.
const view = { offset: 0, sort: "position", descending: false, filter: "" };
let settingsShown = null; // the batch whose settings are drawn
let preflightShown = null; // the batch whose preflight is drawn
let licensePolls = 0; // counts the polls: the licenses are read on every 15th

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  return response;
}

async function request(method, path, body) {
  const response = await call(method, path, body);
  return response.status === 204 ? null : response.json();
}

// The API's errors are {"Code": ..., "Message": ...}.
async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.Message === "string" && body.Message) message = body.Message;
  } catch (_) { /* not JSON */ }
  return new ApiError(response.status, message);
}
const get = (path) => request("GET", path);

// A report or the proof, saved as the file the API names (the token goes in a header,
// so a plain link cannot fetch it).
async function download(method, path, fallbackName) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
  const named = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
  const name = named ? named[1] : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return name;
}

async function save(method, path, fallbackName, busy) {
  if (!batchName) return;
  if (busy) toast(busy);
  try {
    toast(`Saved ${await download(method, path, fallbackName)}`);
  } catch (e) {
    toast(`Download failed: ${e.message}`, true);
  }
}
const send = (method, path, body) => request(method, path, body);

// ---- formatting ------------------------------------------------------------------

function num(n) {
  return n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US");
}

function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
  return `${v.toFixed(i === 0 ? 0 : v < 10 ? 2 : 1)} ${units[i]}`;
}

function when(value) {
  if (!value) return "—";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const ago = Math.round((Date.now() - d.getTime()) / 1000);
  const rel = ago < 0 ? "" : ago < 60 ? `${ago}s ago` : ago < 3600 ? `${Math.round(ago / 60)} min ago`
    : ago < 86400 ? `${Math.round(ago / 3600)} h ago` : `${Math.round(ago / 86400)} d ago`;
  const abs = d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return rel ? `${abs} (${rel})` : abs;
}

function statusClass(status) {
  const s = String(status || "");
  if (/^graceperiodended$/i.test(s)) return "bad";
  if (/^unlicensed$/i.test(s)) return "busy";
  if (/^licensed$/i.test(s)) return "good";
  if (/witherrors|investigate/i.test(s)) return "busy";
  if (/fail|error|corrupt|poor/i.test(s)) return "bad";
  if (/^(synced|completed)/i.test(s)) return "good";
  if (/sync|queued|starting|stopping|removing|provisioning|validating/i.test(s)) return "busy";
  return "";
}

function statusBadge(status) {
  const span = document.createElement("span");
  span.className = `status ${statusClass(status)}`;
  span.textContent = status || "—";
  return span;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (text instanceof Node) td.append(text);
  else td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function show(id, visible) {
  $(id).hidden = !visible;
}

let toastTimer = null;
function toast(text, bad) {
  const t = $("toast");
  t.textContent = text;
  t.className = bad ? "toast bad" : "toast";
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
}

function live(state, text) {
  $("live").dataset.state = state;
  $("live-text").textContent = text;
}

// ---- drawing ---------------------------------------------------------------------

function drawBatch(b) {
  $("batch-name").textContent = b.Identity;
  const status = $("batch-status");
  status.textContent = b.Status;
  status.className = `status ${statusClass(b.Status)}`;
  $("batch-endpoint").textContent = b.SourceEndpoint ? `from endpoint ${b.SourceEndpoint}` : "";
  $("count-total").textContent = num(b.TotalCount);
  $("count-synced").textContent = num(b.SyncedCount);
  $("count-syncing").textContent = num(b.ActiveCount ?? b.SyncingCount);
  $("count-failed").textContent = num(b.FailedCount);
  $("count-stopped").textContent = num(b.StoppedCount);
  $("count-queued").textContent = num(b.PendingCount);
  $("items-synced").textContent = num(b.ItemsSynced);
  $("items-skipped").textContent = num(b.ItemsSkipped);
  // Calendars, contacts and tasks: only when the batch moves them (both sides have DAV).
  const dav = typeof b.CalendarItemsSynced === "number";
  $("dav-fact").hidden = !dav;
  if (dav) $("dav-items").textContent = davText(b);
  $("bytes").textContent = bytes(b.BytesTransferred);
  $("initial-duration").textContent = b.InitialSyncDuration || "—";
  $("source-size").textContent = b.TotalBytesInSource ? bytes(b.TotalBytesInSource) : "—";
  $("time-left").textContent = b.EstimatedTimeLeft || "—";
  $("last-synced").textContent = when(b.LastSyncedDateTime);
  $("next-sync").textContent = when(b.NextSyncDateTime);
  $("consistency").textContent = b.DataConsistencyScore || "—";
  // Over the last minute, whichever process's workers copied it.
  $("throughput").textContent = typeof b.ThroughputBytesPerSecond === "number"
    ? `${bytes(b.ThroughputBytesPerSecond)}/s` : "—";

  // Removals the brake held: a pass would have removed much of a mailbox (or a whole
  // folder); nothing was removed, and the admin decides.
  const held = b.RemovalsHeldCount || 0;
  show("held", held > 0);
  $("held-text").textContent = held > 0
    ? `Removals held for ${num(held)} mailbox${held === 1 ? "" : "es"}: a pass would have removed more than ` +
      `${b.RemovalThresholdPercent}% of the migrated mail, or a whole folder. Nothing was removed from the ` +
      "target. Check the source; if the removals are right, approve them and the next pass makes them."
    : "";

  // What the service allows in each state; it has the last word and says why not.
  const s = String(b.Status);
  $("btn-start").disabled = /^(syncing|stopping|removing)$/i.test(s);
  $("btn-stop").disabled = !/^(syncing|synced|syncedwitherrors)$/i.test(s);
  $("btn-remove").disabled = /^removing$/i.test(s);
}

// A mailbox's share done (of what the source holds) and, while a pass runs, its time left.
function progressCell(u) {
  const wrap = document.createElement("div");
  wrap.className = "progress";
  const pct = u.PercentageComplete;
  const bar = document.createElement("div");
  bar.className = pct === 100 ? "bar done" : "bar";
  const fill = document.createElement("span");
  fill.style.width = `${typeof pct === "number" ? pct : 0}%`;
  bar.append(fill);
  const text = document.createElement("span");
  text.className = "text";
  const parts = [typeof pct === "number" ? `${pct}%` : "—"];
  if (u.EstimatedTimeLeft) parts.push(`${u.EstimatedTimeLeft} left`);
  text.textContent = parts.join(" · ");
  wrap.append(bar, text);
  return wrap;
}

/** "12 events · 3 tasks · 40 contacts (1 skipped)". */
function davText(o) {
  const skipped = o.DavItemsSkipped ? ` (${num(o.DavItemsSkipped)} skipped)` : "";
  return `${num(o.CalendarItemsSynced)} events · ${num(o.TaskItemsSynced)} tasks · ${num(o.ContactItemsSynced)} contacts${skipped}`;
}

function drawUsers(page) {
  const body = $("users");
  const rows = [];
  for (const u of page.users) {
    const tr = document.createElement("tr");
    tr.dataset.email = u.Identity;
    if (u.Identity === selected) tr.className = "selected";
    cell(tr, u.Identity);
    cell(tr, u.RecipientType || "", "muted");
    cell(tr, statusBadge(u.StatusDetail ? `${u.Status} · ${u.StatusDetail}` : u.Status));
    cell(tr, progressCell(u), "progress-cell");
    cell(tr, num(u.ItemsSynced), "num");
    cell(tr, num(u.ItemsSkipped), "num");
    cell(tr, bytes(u.BytesTransferred), "num");
    cell(tr, when(u.LastSyncedDateTime));
    cell(tr, u.ErrorSummary || (u.RemovalsHeld ? `Removals held: ${u.RemovalsHeldDetail || num(u.RemovalsHeld)}` : ""), "error");
    tr.addEventListener("click", () => openDetail(u.Identity));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  // A page past the end (users removed, a narrower filter): back to the last one.
  if (page.users.length === 0 && page.total > 0 && view.offset > 0) {
    view.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
  }
  const first = page.total === 0 ? 0 : view.offset + 1;
  const last = view.offset + page.users.length;
  $("page-info").textContent = `${num(first)}–${num(last)} of ${num(page.total)}`;
  $("page-prev").disabled = view.offset === 0;
  $("page-next").disabled = last >= page.total;
  for (const th of $("users-head").children) {
    const sorted = th.dataset.sort === view.sort;
    if (sorted) th.setAttribute("aria-sort", view.descending ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
}

// Preflight's findings: what blocks the start, and what will not carry over. Objects
// beyond the first few are counted (a group's members left behind can be thousands).
const OBJECTS_SHOWN = 4;

function drawPreflight(p) {
  const result = $("preflight-result");
  result.textContent = p.Result;
  result.className = `status ${p.Result === "Blocked" ? "bad" : p.Result === "Passed" ? "good" : "busy"}`;
  $("preflight-caption").textContent =
    `${num(p.BlockingCount)} blocking, ${num(p.WarningCount)} warning(s) · checked ${when(p.CheckedDateTime)}`;
  const rows = p.Findings.map((f) => {
    const tr = document.createElement("tr");
    tr.className = f.Severity === "Blocking" ? "blocking" : "warning";
    cell(tr, statusBadge(f.Severity));
    cell(tr, f.Code);
    const shown = f.Objects.slice(0, OBJECTS_SHOWN).join("\n");
    const more = f.Objects.length > OBJECTS_SHOWN ? `\n… and ${num(f.Objects.length - OBJECTS_SHOWN)} more` : "";
    cell(tr, shown + more, "objects");
    cell(tr, f.Message);
    cell(tr, f.Action);
    return tr;
  });
  $("preflight-findings").replaceChildren(...rows);
  show("preflight-table", rows.length > 0);
  show("preflight-none", rows.length === 0);
}

async function runPreflight() {
  if (!batchName) return;
  const name = batchName;
  $("btn-preflight").disabled = true;
  $("preflight-caption").textContent = "reading the directories…";
  try {
    drawPreflight(await api.preflight(name));
    preflightShown = name;
  } catch (e) {
    $("preflight-caption").textContent = `preflight failed: ${e.message}`;
  } finally {
    $("btn-preflight").disabled = false;
  }
}

// The batch's bytes per second over time, as an SVG line and area (no library).
function drawChart(t) {
  const points = t.Points || [];
  const max = Math.max(1, ...points.map((p) => p.BytesPerSecond));
  const n = points.length;
  const x = (i) => (n <= 1 ? 600 : (i * 600) / (n - 1));
  const y = (v) => 116 - (v / max) * 108;
  // One stretch alone (a batch younger than its first bucket) is a level line across.
  const line = n === 1
    ? `M0,${y(points[0].BytesPerSecond).toFixed(1)} L600,${y(points[0].BytesPerSecond).toFixed(1)}`
    : points.map((p, i) => `${i === 0 ? "M" : "L"}${x(i).toFixed(1)},${y(p.BytesPerSecond).toFixed(1)}`).join(" ");
  $("throughput-line").setAttribute("d", line);
  $("throughput-area").setAttribute("d", n ? `${line} L${x(n - 1).toFixed(1)},120 L0,120 Z` : "");
  $("throughput-chart").dataset.points = String(n);
  const copied = points.reduce((sum, p) => sum + p.Bytes, 0);
  $("chart-caption").textContent = n
    ? `${bytes(copied)} copied, per ${t.StepSeconds} s`
    : "—";
  $("chart-max").textContent = points.some((p) => p.Bytes > 0) ? `peak ${bytes(max)}/s` : "nothing copied yet";
  $("chart-from").textContent = t.From ? new Date(t.From).toLocaleTimeString("en-GB") : "—";
  $("chart-to").textContent = t.To ? new Date(t.To).toLocaleTimeString("en-GB") : "—";
}

function facts(dl, pairs) {
  const nodes = [];
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    nodes.push(dt, dd);
  }
  $(dl).replaceChildren(...nodes);
}

function connection(c) {
  return [
    ["Server", c.RemoteServer ? `${c.RemoteServer}:${c.Port}` : null],
    ["Security", c.Security],
    ["Sign-in", c.Authentication],
    ["Admin", c.Username],
    ["Impersonation", c.Impersonation],
    ["OAuth provider", c.OAuthProvider],
    ["Client id", c.ClientId],
    ["Tenant", c.TenantId],
    ["CA file", c.CaFile],
    ["Compression", c.Compression],
  ];
}

// The source endpoint and the target, as the service stores them (no password is ever
// sent by the API).
async function drawSettings(b) {
  if (settingsShown === b.Identity) return;
  settingsShown = b.Identity;
  try {
    const e = await api.endpoint(b.SourceEndpoint);
    $("settings-endpoint-title").textContent = `Source endpoint ${e.Identity}`;
    facts("settings-endpoint", [
      ...connection(e),
      ["Discovered by", e.DiscoveryMethod],
      ["Max concurrent migrations", e.MaxConcurrentMigrations],
      ["Max concurrent incremental syncs", e.MaxConcurrentIncrementalSyncs],
    ]);
  } catch (err) {
    facts("settings-endpoint", [["Error", err.message]]);
  }
  try {
    const t = await api.target();
    facts("settings-target", [...connection(t), ["Folder names", t.FolderNameCase]]);
  } catch (err) {
    facts("settings-target", [["Error", err.message]]);
  }
}

async function openDetail(email) {
  selected = email;
  for (const tr of $("users").children) tr.classList.toggle("selected", tr.dataset.email === email);
  $("detail-title").textContent = email;
  show("detail", true);
  await refreshDetail();
}

async function refreshDetail() {
  if (!selected) return;
  let s;
  try {
    s = await api.statistics(selected);
  } catch (e) {
    if (e.status === 404) { closeDetail(); return; }
    throw e;
  }
  const facts = [
    ["Status", statusBadge(s.StatusDetail ? `${s.Status} · ${s.StatusDetail}` : s.Status)],
    ["Throttled until", s.ThrottledUntilDateTime ? when(s.ThrottledUntilDateTime) : null],
    ["Source login", s.SourceLogin],
    ["Items in source", num(s.TotalItemsInSourceMailboxCount)],
    ["Done", typeof s.PercentageComplete === "number"
      ? `${s.PercentageComplete}% of the items, ${s.BytesPercentageComplete ?? 0}% of the bytes` : "—"],
    ["Time left", s.EstimatedTimeLeft || "—"],
    ["Items synced", num(s.SyncedItemCount)],
    ["Items skipped", num(s.SkippedItemCount)],
    ["Bad items", num(s.BadItemCount)],
    ["Large items", num(s.LargeItemCount)],
    ["Transferred", bytes(s.BytesTransferred)],
    ["Folders", num(s.FolderCount)],
    ["Data consistency", s.DataConsistencyScore],
    ["Last synced", when(s.LastSyncedDateTime)],
    ["Last pass", s.LastPassDuration ? `${num(s.LastPassItemCount)} items in ${s.LastPassDuration}` : "—"],
    ["Error", s.Error || s.ErrorSummary || "—"],
  ];
  if (typeof s.CalendarItemsSynced === "number") {
    facts.push(["Calendars · tasks · contacts", davText(s)]);
    facts.push(["Calendars last synced", when(s.DavLastSyncedDateTime)]);
    if (s.DavError) facts.push(["Calendars error", s.DavError]);
  }
  if (s.RemovalsHeld) facts.push(["Removals held", s.RemovalsHeldDetail || num(s.RemovalsHeld)]);
  const dl = $("detail-facts");
  dl.replaceChildren();
  for (const [k, v] of facts) {
    if (v === null) continue;
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    if (v instanceof Node) dd.append(v); else dd.textContent = v ?? "—";
    dl.append(dt, dd);
  }
  const items = s.SkippedItems || [];
  show("skipped-none", items.length === 0);
  show("skipped-table", items.length > 0);
  $("skipped").replaceChildren(...items.map((i) => {
    const tr = document.createElement("tr");
    cell(tr, i.Kind || "");
    cell(tr, i.FolderName || i.Folder || "");
    cell(tr, i.Subject || "");
    cell(tr, bytes(i.MessageSize ?? i.Size), "num");
    cell(tr, i.Reason || i.Failure || "");
    return tr;
  }));
}

function closeDetail() {
  selected = null;
  show("detail", false);
  for (const tr of $("users").children) tr.classList.remove("selected");
}

// ---- the loop --------------------------------------------------------------------

// Licenses (the seed's Section 7): every provisioned user, its SKUs, and for one without
// a license the days left of its grace period, or its login disabled on the target.
function drawLicenses(users, skus) {
  show("licenses", users.length > 0 || skus.length > 0);
  const unlicensed = users.filter((u) => !u.IsLicensed).length;
  $("licenses-caption").textContent =
    `${num(users.length)} provisioned user(s), ${num(unlicensed)} without a license`;
  $("license-skus").textContent = skus.length
    ? skus.map((k) => `${k.AccountSkuId}: ${num(k.ConsumedUnits)} of ${k.ActiveUnits == null ? "∞" : num(k.ActiveUnits)} assigned`).join(" · ")
    : "No license SKU yet: cutover license sku add NAME --units N";
  const rows = users.map((u) => {
    const tr = document.createElement("tr");
    tr.dataset.user = u.UserPrincipalName;
    cell(tr, u.UserPrincipalName);
    cell(tr, u.Licenses.join(", ") || "—");
    cell(tr, statusBadge(u.LicenseStatus));
    cell(tr, u.DaysLeft == null ? "—" : num(u.DaysLeft), "num days-left");
    cell(tr, u.LoginDisabled ? `disabled since ${when(u.LoginDisabledSince)}` : "enabled");
    return tr;
  });
  $("license-users").replaceChildren(...rows);
}

async function refresh() {
  try {
    const batches = await api.batches();
    const b = batches.find((x) => x.Identity === batchName) || batches[0];
    show("login", false);
    if (!b) {
      batchName = null;
      settingsShown = null;
      show("batch", false);
      if ($("empty").hidden) await fillEndpoints();
      show("empty", true);
      closeDetail();
    } else {
      if (b.Identity !== batchName) view.offset = 0;
      batchName = b.Identity;
      show("empty", false);
      show("batch", true);
      drawBatch(b);
      drawUsers(await api.users(b.Identity, view));
      drawChart(await api.throughput(b.Identity));
      await drawSettings(b);
      if (preflightShown !== b.Identity) await runPreflight();
      await refreshDetail();
    }
    // Licenses change by the day: read every 15th poll (30 s), and at once after sign-in.
    if (licensePolls++ % 15 === 0) drawLicenses(await api.licenses(), await api.skus());
    live("ok", `updated ${new Date().toLocaleTimeString("en-GB")}`);
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = null;
      stop();
      signIn("The token was refused. Paste the current one.");
      return;
    }
    live("error", `cannot reach the service: ${e.message}`);
  }
}

function stop() {
  clearTimeout(timer);
  timer = null;
}

// Redraw now (after a click or a keystroke) rather than at the next poll.
async function redraw() {
  stop();
  await loop();
}

// The endpoints a new batch may migrate from.
async function fillEndpoints() {
  const select = $("new-batch-endpoint");
  const endpoints = await api.endpoints();
  select.replaceChildren(...endpoints.map((e) => {
    const o = document.createElement("option");
    o.value = e.Identity;
    o.textContent = `${e.Identity} (${e.RemoteServer})`;
    return o;
  }));
  $("new-batch-submit").disabled = endpoints.length === 0;
  if (endpoints.length === 0) {
    showError("new-batch-error", "No migration endpoint exists yet: create one with `cutover endpoint new` first.");
  }
}

function showError(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

// The batch from the users CSV the admin picked: the service checks every row (and the
// accepted domains) and says what is wrong, line by line.
async function createBatch(ev) {
  ev.preventDefault();
  showError("new-batch-error", "");
  const file = $("new-batch-csv").files[0];
  if (!file) {
    showError("new-batch-error", "Choose the users CSV first.");
    return;
  }
  try {
    await api.createBatch({
      Name: $("new-batch-name").value.trim(),
      SourceEndpoint: $("new-batch-endpoint").value,
      UsersCsv: await file.text(),
      AutoStart: $("new-batch-start").checked,
    });
    toast(`Created ${$("new-batch-name").value.trim()} from ${file.name}`);
    $("new-batch-form").reset();
  } catch (e) {
    showError("new-batch-error", e.message);
  }
  await redraw();
}

async function loop() {
  await refresh();
  if (token) timer = setTimeout(loop, POLL_MS);
}

function signIn(error) {
  show("batch", false);
  show("empty", false);
  show("login", true);
  const e = $("login-error");
  e.textContent = error || "";
  e.hidden = !error;
  live("connecting", "not signed in");
  $("token-input").focus();
}

function confirmAction(title, text, okLabel) {
  return new Promise((resolve) => {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel;
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

async function act(action, verb) {
  if (!batchName) return;
  try {
    await api[action](batchName);
    toast(`${verb} ${batchName}`);
  } catch (e) {
    toast(`${verb} failed: ${e.message}`, true);
    // A start refused by preflight: show what it found.
    if (action === "start" && e.status === 409) await runPreflight();
  }
  stop();
  await loop();
}

// The service refuses a removal that would lose mail (the MX records not yet on the
// target, no sync since they moved, a pass still running): it says why, and the admin
// may insist.
async function removeBatch() {
  const name = batchName;
  try {
    await api.remove(name, false);
    toast(`Removed ${name}`);
  } catch (e) {
    if (e.status === 409 && await confirmAction("The service advises against removing it",
      `${e.message}\n\nRemove ${name} anyway?`, "Remove anyway")) {
      try {
        await api.remove(name, true);
        toast(`Removed ${name}`);
      } catch (e2) {
        toast(`Remove failed: ${e2.message}`, true);
      }
    } else if (e.status !== 409) {
      toast(`Remove failed: ${e.message}`, true);
    }
  }
  stop();
  await loop();
}

function init() {
  // `cutover serve` prints a link with the token in the fragment, which the browser
  // never sends to a server: keep it for this tab and take it out of the address bar.
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  token = sessionStorage.getItem(TOKEN_KEY);

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token-input").value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    stop();
    loop();
  });
  $("btn-start").addEventListener("click", () => act("start", "Started"));
  $("btn-stop").addEventListener("click", async () => {
    if (await confirmAction("Stop the batch?",
      `Every mailbox of ${batchName} stops syncing within seconds. Start resumes where it stopped.`, "Stop")) {
      await act("stop", "Stopped");
    }
  });
  $("btn-remove").addEventListener("click", async () => {
    if (await confirmAction("Remove the batch?",
      `${batchName} and its mailboxes' sync state are removed; the mail already on the target stays. ` +
      "Remove it only after the MX records point to the target and a last incremental sync has run.", "Remove")) {
      await removeBatch();
    }
  });
  $("btn-approve-removals").addEventListener("click", async () => {
    if (await confirmAction("Approve the held removals?",
      `The next pass of ${batchName} removes from the target what the source no longer has, as each ` +
      "mailbox's detail lists. Approve only after checking the source.", "Approve")) {
      await act("approveRemovals", "Approved the removals of");
    }
  });
  const batchPath = () => `/api/v1/batches/${encodeURIComponent(batchName)}`;
  $("btn-report-statistics").addEventListener("click", () =>
    save("GET", `${batchPath()}/report/statistics.csv`, "MigrationStatistics.csv"));
  $("btn-report-errors").addEventListener("click", () =>
    save("GET", `${batchPath()}/report/errors.csv`, "MigrationErrors.csv"));
  $("btn-proof").addEventListener("click", () =>
    save("POST", `${batchPath()}/proof`, "completeness-proof.json",
      "Listing every mailbox on both servers for the proof…"));
  let typing = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      view.filter = $("filter").value.trim();
      view.offset = 0;
      redraw();
    }, 250);
  });
  $("page-prev").addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - PAGE_SIZE);
    redraw();
  });
  $("page-next").addEventListener("click", () => {
    view.offset += PAGE_SIZE;
    redraw();
  });
  for (const th of $("users-head").children) {
    th.addEventListener("click", () => {
      if (view.sort === th.dataset.sort) view.descending = !view.descending;
      else { view.sort = th.dataset.sort; view.descending = false; }
      view.offset = 0;
      redraw();
    });
  }
  $("btn-preflight").addEventListener("click", runPreflight);
  $("new-batch-form").addEventListener("submit", createBatch);
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDetail(); });

  if (token) loop(); else signIn();
}

init();
