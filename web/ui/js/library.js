// The library: upload by file picker or drag and drop, each file's ingestion followed live
// (GET /api/v1/jobs/{id} every 500 ms until done or failed), the documents with their state,
// failures with their reason, passages, the original file, and delete.
import {api, uploadFiles} from "./api.js";
import {confirmAction} from "./dialogs.js";
import {$, baseName, documentLabel, el, formatBytes, formatTime, pageLabel} from "./dom.js";

const kPageSize = 50;
const kPollMs = 500;
const kListRefreshMs = 5000;
const kJobsKey = "cloister.jobs.v1";

const kStateNames = {
  uploading: "Uploading",
  queued: "Queued",
  extracting: "Extracting text",
  chunking: "Splitting into passages",
  embedding: "Embedding",
  done: "Done",
  failed: "Failed",
  unknown: "Unknown",
};
const kStatusNames = {queued: "Being ingested", ready: "Ready", partial: "Partly read", failed: "Failed"};

const jobs = new Map();  // job id -> {id, name, state, progress, error, document_id, node}
let polling = false;
let offset = 0;
let total = 0;
let documents = [];
let visible = false;
let refreshTimer = null;

// ---- ingestion jobs ------------------------------------------------------------------------

const isFinal = (state) => state === "done" || state === "failed" || state === "unknown";

function saveJobs() {
  const active = [...jobs.values()].filter((j) => !isFinal(j.state)).map(({id, name}) => ({id, name}));
  try {
    localStorage.setItem(kJobsKey, JSON.stringify(active));
  } catch {
    // Not kept across a reload: the library still shows the documents' state.
  }
}

function jobRow(job) {
  const percent = Math.round((job.progress || 0) * 100);
  const bar = el("progress", {class: "job-progress", max: "1", "aria-label": `Ingestion of ${job.name}`});
  bar.value = job.progress || 0;
  const row = el("li", {class: "job", dataset: {state: job.state, jobId: job.id}},
    el("span", {class: "job-name"}, job.name),
    el("span", {class: "job-state"}, kStateNames[job.state] || job.state),
    el("span", {class: "job-percent"}, job.state === "failed" || job.state === "unknown" ? "" : `${percent}%`),
    bar);
  if (job.error) row.append(el("p", {class: "job-error", role: "alert"}, job.error));
  if (job.state === "done" && job.summary) row.append(el("p", {class: "job-summary"}, job.summary));
  if (isFinal(job.state)) {
    row.append(el("button", {type: "button", class: "secondary small", "aria-label": `Dismiss ${job.name}`,
      onclick: () => dismiss(job)}, "Dismiss"));
  }
  return row;
}

function showJob(job) {
  const fresh = jobRow(job);
  if (job.node && job.node.parentNode) job.node.replaceWith(fresh);
  else $("uploads").prepend(fresh);
  job.node = fresh;
  $("uploads-section").hidden = $("uploads").children.length === 0;
}

function dismiss(job) {
  jobs.delete(job.id);
  if (job.node) job.node.remove();
  $("uploads-section").hidden = $("uploads").children.length === 0;
  const next = $("uploads").querySelector("button") || $("file-input");
  next.focus();
}

function track(id, name, state = "queued") {
  const job = {id, name, state, progress: 0, error: "", document_id: null};
  jobs.set(String(id), job);
  showJob(job);
  saveJobs();
  poll();
}

async function poll() {
  if (polling) return;
  polling = true;
  try {
    for (;;) {
      const active = [...jobs.values()].filter((j) => !isFinal(j.state));
      if (active.length === 0) break;
      await Promise.all(active.map(refreshJob));
      saveJobs();
      await new Promise((resolve) => setTimeout(resolve, kPollMs));
    }
  } finally {
    polling = false;
  }
}

async function refreshJob(job) {
  let fresh;
  try {
    fresh = await api.job(job.id);
  } catch (e) {
    if (e.status === 404) {
      Object.assign(job, {state: "unknown", error: "The service no longer knows this upload; see the library below."});
      showJob(job);
    }
    return;  // a network hiccup: try again on the next round
  }
  const before = job.state;
  Object.assign(job, {
    state: fresh.state,
    progress: fresh.state === "done" ? 1 : Number(fresh.progress) || 0,
    error: fresh.error || "",
    document_id: fresh.document_id ?? null,
  });
  if (fresh.name) job.name = fresh.name;
  if (job.state === "done" && before !== "done") await describeResult(job);
  showJob(job);
  if (isFinal(job.state) && !isFinal(before)) changed();
}

async function describeResult(job) {
  if (job.document_id === null) return;
  try {
    const doc = await api.document(job.document_id);
    const parts = [kStatusNames[doc.status] || doc.status];
    if (doc.pages) parts.push(`${doc.pages} pages`);
    parts.push(`${doc.chunks} passages`);
    if (doc.status === "partial" && doc.error) parts.push(doc.error);
    job.summary = parts.join(" · ");
  } catch {
    // The summary is a courtesy; the library shows the document anyway.
  }
}

// Something finished: the library and the header's counts are out of date.
function changed() {
  refreshList();
  document.dispatchEvent(new CustomEvent("cloister:changed"));
}

// ---- uploading -----------------------------------------------------------------------------

async function upload(fileList) {
  const files = [...fileList];
  if (files.length === 0) return;
  const name = files.length === 1 ? files[0].name : `${files.length} files`;
  const row = {id: `upload-${Date.now()}`, name, state: "uploading", progress: 0, error: ""};
  showJob(row);
  try {
    const reply = await uploadFiles(files, (fraction) => {
      row.progress = fraction;
      showJob(row);
    });
    row.node.remove();
    for (const job of reply.jobs || []) track(job.id, job.name || name, job.state || "queued");
  } catch (e) {
    Object.assign(row, {state: "failed", error: e.message});
    showJob(row);
  }
}

function setUpDropZone() {
  const zone = $("drop-zone");
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  // Files dropped anywhere on the page are uploaded, never opened by the browser in place of it.
  window.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
    zone.classList.add("dragging");
  });
  window.addEventListener("dragleave", (e) => {
    if (e.relatedTarget === null) zone.classList.remove("dragging");
  });
  window.addEventListener("drop", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    zone.classList.remove("dragging");
    if (!visible) location.hash = "#library";
    upload(e.dataTransfer.files);
  });
  $("file-input").addEventListener("change", (e) => {
    upload(e.target.files);
    e.target.value = "";
  });
}

// ---- the document list ---------------------------------------------------------------------

function statusLine(doc) {
  const status = el("span", {class: `status status-${doc.status}`}, kStatusNames[doc.status] || doc.status);
  const line = el("p", {class: "doc-status"}, status);
  if (doc.error) line.append(el("span", {class: "doc-error"}, doc.error));
  return line;
}

function facts(doc) {
  const file = doc.name || baseName(doc.path);
  const parts = [];
  if (file && file !== documentLabel(doc)) parts.push(file);
  if (doc.type) parts.push(doc.type);
  if (doc.pages) parts.push(`${doc.pages} ${doc.pages === 1 ? "page" : "pages"}`);
  if (doc.chunks !== undefined && doc.chunks !== null) parts.push(`${doc.chunks} passages`);
  if (doc.attachments) parts.push(`${doc.attachments} ${doc.attachments === 1 ? "attachment" : "attachments"}`);
  if (doc.size_bytes) parts.push(formatBytes(doc.size_bytes));
  return el("p", {class: "doc-facts"}, parts.join(" · "));
}

function mailLine(doc) {
  if (!doc.from && !doc.subject && !doc.date) return null;
  return el("dl", {class: "doc-mail meta"},
    doc.from ? el("div", {}, el("dt", {}, "From"), el("dd", {}, doc.from)) : null,
    doc.subject ? el("div", {}, el("dt", {}, "Subject"), el("dd", {class: "doc-subject"}, doc.subject)) : null,
    doc.date ? el("div", {}, el("dt", {}, "Date"), el("dd", {}, formatTime(doc.date))) : null);
}

function passages(doc) {
  if (!doc.chunks) return null;
  const list = el("ol", {class: "chunks"});
  const details = el("details", {class: "doc-chunks"}, el("summary", {}, `Passages (${doc.chunks})`), list);
  details.addEventListener("toggle", async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = "yes";
    list.replaceChildren(el("li", {class: "hint"}, "Loading…"));
    try {
      const {chunks} = await api.chunks(doc.id);
      list.replaceChildren(...chunks.map((c) => el("li", {},
        c.page !== null && c.page !== undefined ? el("span", {class: "chunk-page"}, pageLabel(c.page)) : null,
        el("p", {class: "chunk-text"}, c.text))));
      if (chunks.length === 0) list.replaceChildren(el("li", {class: "hint"}, "No passages."));
    } catch (e) {
      delete details.dataset.loaded;
      list.replaceChildren(el("li", {class: "problem"}, e.message));
    }
  });
  return details;
}

function documentItem(doc) {
  const title = documentLabel(doc);
  const when = doc.updated_at || doc.created_at;
  return el("li", {class: "document", dataset: {id: doc.id, status: doc.status}},
    el("div", {class: "doc-main"},
      el("h3", {class: "doc-title"}, title),
      facts(doc),
      mailLine(doc),
      statusLine(doc),
      when ? el("p", {class: "doc-time"}, `Added ${formatTime(doc.created_at || when)}`) : null,
      passages(doc)),
    el("div", {class: "doc-actions"},
      el("a", {class: "button secondary small", href: api.originalUrl(doc.id), download: "",
        "aria-label": `Download the original of ${title}`}, "Original"),
      el("button", {type: "button", class: "danger small", "aria-label": `Delete ${title}`,
        onclick: () => remove(doc)}, "Delete")));
}

async function remove(doc) {
  const title = documentLabel(doc);
  const ok = await confirmAction({
    title: `Delete “${title}”?`,
    text: "The document, its passages and its original file are removed. Answers will no longer cite it.",
    action: "Delete",
  });
  if (!ok) return;
  try {
    await api.deleteDocument(doc.id);
    $("documents-message").textContent = `Deleted “${title}”.`;
    changed();
    $("refresh-documents").focus();
  } catch (e) {
    $("documents-message").textContent = `Could not delete “${title}”: ${e.message}`;
  }
}

async function refreshList() {
  const message = $("documents-message");
  try {
    const reply = await api.documents(offset, kPageSize);
    total = reply.total ?? 0;
    documents = reply.documents || [];
    if (documents.length === 0 && offset > 0) {
      offset = Math.max(0, offset - kPageSize);
      return refreshList();
    }
  } catch (e) {
    message.textContent = `The library could not be read: ${e.message}`;
    return;
  }
  if (message.textContent.startsWith("The library could not")) message.textContent = "";
  $("documents").replaceChildren(...documents.map(documentItem));
  $("documents-count").textContent = `(${total})`;
  if (total === 0) message.textContent = "No documents yet. Add some above.";
  else if (message.textContent.startsWith("No documents yet")) message.textContent = "";
  const pages = Math.ceil(total / kPageSize);
  $("documents-pager").hidden = pages <= 1;
  $("documents-page").textContent = `Page ${Math.floor(offset / kPageSize) + 1} of ${pages}`;
  $("documents-prev").disabled = offset === 0;
  $("documents-next").disabled = offset + kPageSize >= total;
  scheduleRefresh();
}

// While something is being ingested (by this page, the inbox or another person), the list
// refreshes itself.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const busy = documents.some((d) => d.status === "queued") || [...jobs.values()].some((j) => !isFinal(j.state));
  if (visible && busy) refreshTimer = setTimeout(refreshList, kListRefreshMs);
}

export function showLibrary(shown) {
  visible = shown;
  if (shown) refreshList();
  else clearTimeout(refreshTimer);
}

export function setUpLibrary() {
  setUpDropZone();
  $("refresh-documents").addEventListener("click", refreshList);
  $("documents-prev").addEventListener("click", () => {
    offset = Math.max(0, offset - kPageSize);
    refreshList();
  });
  $("documents-next").addEventListener("click", () => {
    offset += kPageSize;
    refreshList();
  });
  // Uploads still being ingested when the page was last closed.
  try {
    for (const {id, name} of JSON.parse(localStorage.getItem(kJobsKey) || "[]")) track(id, name);
  } catch {
    // nothing to resume
  }
}
