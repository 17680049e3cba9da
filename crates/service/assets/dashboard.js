// The migration dashboard: polls the service's API and draws the cutover batch, its
// mailboxes and a mailbox's skipped items. No framework; everything it shows comes
// from /api/v1 with the bearer token, which never leaves this tab (sessionStorage).
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "cutover-token";

const api = {
  batches: () => get("/api/v1/batches"),
  users: (batch) => get(`/api/v1/batches/${encodeURIComponent(batch)}/users`),
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
let samples = []; // [time ms, BytesTransferred] of recent polls, for the throughput
let timer = null;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function request(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    cache: "no-store",
  });
  if (!response.ok) throw await failure(response);
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
const send = (method, path) => request(method, path);

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
  $("bytes").textContent = bytes(b.BytesTransferred);
  $("initial-duration").textContent = b.InitialSyncDuration || "—";
  $("last-synced").textContent = when(b.LastSyncedDateTime);
  $("next-sync").textContent = when(b.NextSyncDateTime);
  $("consistency").textContent = b.DataConsistencyScore || "—";
  // The service measures its own workers; a batch synced by `cutover run` elsewhere
  // shows what these polls see instead.
  const measured = throughput(b.BytesTransferred);
  $("throughput").textContent = typeof b.ThroughputBytesPerSecond === "number"
    ? `${bytes(b.ThroughputBytesPerSecond)}/s` : measured;

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

// Bytes per second over the last ten seconds of polls.
function throughput(total) {
  const now = Date.now();
  if (typeof total === "number") samples.push([now, total]);
  samples = samples.filter(([t]) => now - t <= 10000);
  if (samples.length < 2) return "—";
  const [t0, b0] = samples[0];
  const [t1, b1] = samples[samples.length - 1];
  if (t1 <= t0 || b1 < b0) return "—";
  return `${bytes(((b1 - b0) * 1000) / (t1 - t0))}/s`;
}

function drawUsers(users) {
  const filter = $("filter").value.trim().toLowerCase();
  const body = $("users");
  const rows = [];
  for (const u of users) {
    const text = `${u.Identity} ${u.Status}`.toLowerCase();
    if (filter && !text.includes(filter)) continue;
    const tr = document.createElement("tr");
    tr.dataset.email = u.Identity;
    if (u.Identity === selected) tr.className = "selected";
    cell(tr, u.Identity);
    cell(tr, statusBadge(u.Status));
    cell(tr, num(u.ItemsSynced), "num");
    cell(tr, num(u.ItemsSkipped), "num");
    cell(tr, bytes(u.BytesTransferred), "num");
    cell(tr, when(u.LastSyncedDateTime));
    cell(tr, u.ErrorSummary || (u.RemovalsHeld ? `Removals held: ${u.RemovalsHeldDetail || num(u.RemovalsHeld)}` : ""), "error");
    tr.addEventListener("click", () => openDetail(u.Identity));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
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
    ["Status", statusBadge(s.Status)],
    ["Source login", s.SourceLogin],
    ["Items in source", num(s.TotalItemsInSourceMailboxCount)],
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
  if (s.RemovalsHeld) facts.push(["Removals held", s.RemovalsHeldDetail || num(s.RemovalsHeld)]);
  const dl = $("detail-facts");
  dl.replaceChildren();
  for (const [k, v] of facts) {
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

async function refresh() {
  try {
    const batches = await api.batches();
    const b = batches.find((x) => x.Identity === batchName) || batches[0];
    show("login", false);
    if (!b) {
      batchName = null;
      show("batch", false);
      show("empty", true);
      closeDetail();
    } else {
      if (b.Identity !== batchName) samples = [];
      batchName = b.Identity;
      show("empty", false);
      show("batch", true);
      drawBatch(b);
      drawUsers(await api.users(b.Identity));
      await refreshDetail();
    }
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
  $("filter").addEventListener("input", () => refresh());
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDetail(); });

  if (token) loop(); else signIn();
}

init();
