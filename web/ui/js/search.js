// Search without an answer: the best passages for some words, filtered by type, sender and
// date, in the retrieval mode chosen.
import {api} from "./api.js";
import {showPassage} from "./dialogs.js";
import {$, baseName, documentLabel, el, formatTime, highlighted, pageLabel} from "./dom.js";

let controller = null;

function queryString(form) {
  const data = new FormData(form);
  const params = new URLSearchParams();
  params.set("q", String(data.get("q") || "").trim());
  params.set("k", String(data.get("k") || "10"));
  const mode = String(data.get("mode") || "auto");
  if (mode !== "auto") params.set("mode", mode);
  for (const type of data.getAll("type")) params.append("type", String(type));
  for (const key of ["from", "after", "before"]) {
    const value = String(data.get(key) || "").trim();
    if (value) params.set(key, value);
  }
  return params;
}

function resultItem(hit, rank) {
  const doc = hit.document || {};
  const title = documentLabel(doc);
  const file = doc.name || baseName(doc.path);
  const where = [file !== title ? file : "", pageLabel(hit.page), doc.type].filter(Boolean).join(" · ");
  const mail = [doc.from && `from ${doc.from}`, doc.date && formatTime(doc.date), doc.subject && `“${doc.subject}”`]
    .filter(Boolean).join(" · ");
  return el("li", {class: "result", dataset: {chunkId: hit.chunk_id}},
    el("h2", {class: "result-title"}, title),
    where ? el("p", {class: "result-where"}, where) : null,
    mail ? el("p", {class: "result-mail"}, mail) : null,
    el("p", {class: "snippet"}, ...highlighted(hit.snippet || hit.text || "")),
    el("button", {type: "button", class: "secondary small", "aria-label": `Show passage ${rank}: ${title}, ${pageLabel(hit.page)}`,
      onclick: () => showPassage(hit, {label: `Result ${rank}`})}, "Show passage"));
}

async function search(event) {
  event.preventDefault();
  const form = $("search-form");
  const params = queryString(form);
  const message = $("search-message");
  const list = $("search-results");
  if (!params.get("q")) return;
  if (controller) controller.abort();
  controller = new AbortController();
  message.textContent = "Searching…";
  list.setAttribute("aria-busy", "true");
  try {
    const reply = await api.search(params, {signal: controller.signal});
    const results = reply.results || [];
    list.replaceChildren(...results.map((hit, i) => resultItem(hit, i + 1)));
    message.textContent = results.length === 0
      ? "No passage matches. Try other words or fewer filters."
      : `${results.length} ${results.length === 1 ? "passage" : "passages"} (${reply.mode} search)`;
  } catch (e) {
    if (e.name === "AbortError") return;
    list.replaceChildren();
    message.textContent = e.message;
  } finally {
    list.setAttribute("aria-busy", "false");
  }
}

export function setUpSearch() {
  const form = $("search-form");
  form.addEventListener("submit", search);
  form.addEventListener("reset", () => {
    $("search-results").replaceChildren();
    $("search-message").textContent = "";
  });
}
