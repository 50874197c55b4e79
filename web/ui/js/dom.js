// Building the page from data. Every string handed to these functions ends up as a text node or an
// attribute value, never parsed as HTML: document-derived text (titles, passages, answers,
// senders, subjects) cannot become markup, whatever it contains.

// el("a", {href: "/x", class: "link", onclick: f}, "text", child) creates an element. Keys starting
// with "on" add listeners; "class", "text" and "dataset" are shortcuts; null, undefined and false
// values are skipped; any other value is set with setAttribute.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

// Appends strings (as text nodes) and nodes, skipping null, undefined and false.
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const $ = (id) => document.getElementById(id);

// The name people know a document by: its title, else its file name, else the last part of its path.
export function documentLabel(doc) {
  if (!doc) return "Unknown document";
  return doc.title || doc.name || baseName(doc.path) || `Document ${doc.id}`;
}

export function baseName(path) {
  if (!path) return "";
  const parts = String(path).split(/[\\/]/);
  return parts[parts.length - 1];
}

// "page 2", or "" for documents without pages.
export function pageLabel(page) {
  return page === null || page === undefined ? "" : `page ${page}`;
}

// Text with «highlighted» words (search snippets) as text nodes and <mark> elements.
export function highlighted(text) {
  const out = [];
  const re = /«([^«»]*)»/g;
  let last = 0;
  for (let m; (m = re.exec(text)); ) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(el("mark", {}, m[1]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

// Text with the sentences in `quotes` marked (where they occur verbatim), for the cited passage.
export function withQuotesMarked(text, quotes) {
  const spans = [];
  for (const q of quotes) {
    const at = q.length > 8 ? text.indexOf(q) : -1;
    if (at >= 0) spans.push([at, at + q.length]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  const out = [];
  let last = 0;
  for (const [start, end] of spans) {
    if (start < last) continue;
    if (start > last) out.push(text.slice(last, start));
    out.push(el("mark", {}, text.slice(start, end)));
    last = end;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function formatBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

// Unix seconds, or an ISO date, as the reader's local date and time.
export function formatTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

// A <dl> row list from [label, value] pairs, skipping empty values.
export function metaList(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("div", {}, el("dt", {}, label), el("dd", {}, value)));
  }
  return dl;
}
