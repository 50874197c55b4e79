// The conversation: questions, answers streamed as they are written, citations as buttons that
// open the cited passage. The conversation is kept in this browser (localStorage) across reloads
// and its earlier turns go with each question as "history", so follow-up questions work.
import {askStreaming} from "./api.js";
import {confirmAction, showPassage} from "./dialogs.js";
import {$, documentLabel, el, formatTime, pageLabel} from "./dom.js";

const kStorageKey = "cloister.conversation.v1";
const kKeptTurns = 50;     // turns kept in the browser
const kHistoryTurns = 6;   // earlier turns sent with a question (the server budgets them further)

let turns = [];
let running = null;  // {turn, controller} while an answer streams

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(kStorageKey) || "[]");
    turns = Array.isArray(saved) ? saved : [];
  } catch {
    turns = [];
  }
  // A page closed while an answer streamed: that answer never finished.
  for (const t of turns) {
    if (t.status === "pending" || t.status === "streaming") {
      t.status = "interrupted";
      t.error = "This answer was interrupted when the page closed.";
    }
  }
}

// Turns are stored without their DOM nodes.
function withoutNodes(key, value) {
  return key === "node" || key === "textNode" ? undefined : value;
}

function save() {
  turns = turns.slice(-kKeptTurns);
  for (let keep = turns.length; keep >= 0; keep = Math.floor(keep / 2)) {
    try {
      localStorage.setItem(kStorageKey, JSON.stringify(turns.slice(turns.length - keep), withoutNodes));
      return;
    } catch {
      // Storage full: keep fewer turns (the newest), down to none.
      if (keep === 0) return;
    }
  }
}

// Earlier completed turns as the API's history, oldest first.
function historyBefore(turn) {
  const done = turns.slice(0, turns.indexOf(turn)).filter((t) => t.status === "done" && t.answer);
  return done.slice(-kHistoryTurns).flatMap((t) => [
    {role: "user", content: t.question},
    {role: "assistant", content: t.answer},
  ]);
}

// ---- rendering -----------------------------------------------------------------------------

function sourceLabel(source) {
  const doc = source.document || {};
  const parts = [documentLabel(doc)];
  if (source.page !== null && source.page !== undefined) parts.push(pageLabel(source.page));
  return parts.join(", ");
}

function openSource(turn, source) {
  const quotes = (turn.sentences || [])
    .filter((s) => (s.sources || []).includes(source.n))
    .map((s) => s.text.replace(/\s*\[\d+\]/g, "").trim());
  showPassage(source, {label: `Source ${source.n}`, quotes});
}

// The answer's text with each [n] that names a source as a button opening it. Markers that
// point nowhere (possible while streaming) stay plain text.
function citedText(turn) {
  const byN = new Map((turn.sources || []).map((s) => [s.n, s]));
  const out = [];
  const text = turn.answer || "";
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const source = byN.get(Number(m[1]));
    if (!source) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(el("button", {
      type: "button", class: "cite", dataset: {n: source.n},
      "aria-label": `Source ${source.n}: ${sourceLabel(source)}`,
      onclick: () => openSource(turn, source),
    }, String(source.n)));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function modeBadge(turn) {
  if (turn.status !== "done") return null;
  if (turn.evidence === false) {
    return el("p", {class: "badge none", dataset: {mode: "no-evidence"}},
      "Not in your documents: nothing relevant was found, so no answer was made up.");
  }
  if (turn.mode === "extractive") {
    return el("p", {class: "badge extractive", dataset: {mode: "extractive"}},
      "Quoted from your documents (no chat model: the best-matching sentences)");
  }
  return el("p", {class: "badge generated", dataset: {mode: turn.mode || "generated"}},
    "Answer generated from your documents");
}

function sourceList(turn) {
  if (turn.status !== "done" || !turn.sources || turn.sources.length === 0) return null;
  const list = el("ol", {class: "sources", "aria-label": "Sources"});
  for (const source of turn.sources) {
    const doc = source.document || {};
    const mail = [doc.from && `from ${doc.from}`, doc.date && formatTime(doc.date), doc.subject && `“${doc.subject}”`]
      .filter(Boolean).join(" · ");
    list.append(el("li", {},
      el("button", {type: "button", class: "source", dataset: {n: source.n}, onclick: () => openSource(turn, source)},
        el("span", {class: "source-n"}, String(source.n)),
        el("span", {class: "source-name"}, sourceLabel(source)),
        mail ? el("span", {class: "source-mail"}, mail) : null)));
  }
  return list;
}

function problem(turn) {
  if (!turn.error) return null;
  const box = el("div", {class: "problem", role: "alert"}, el("p", {}, turn.error));
  if (turn.status === "error" || turn.status === "interrupted" || turn.status === "stopped") {
    box.append(el("button", {type: "button", class: "secondary", onclick: () => ask(turn)}, "Ask again"));
  }
  return box;
}

function renderTurn(turn) {
  const answerText = el("div", {class: "answer-text", "aria-live": "polite",
    "aria-busy": turn.status === "streaming" || turn.status === "pending" ? "true" : "false"});
  if (turn.status === "pending") answerText.append(el("span", {class: "thinking"}, "Searching your documents…"));
  else answerText.append(...citedText(turn));
  const item = el("li", {class: "turn", dataset: {id: turn.id, status: turn.status}},
    el("div", {class: "question"}, el("span", {class: "who"}, "You"), el("p", {}, turn.question)),
    el("article", {class: "answer", "aria-label": "Answer"},
      el("span", {class: "who"}, "Cloister"),
      modeBadge(turn), answerText, sourceList(turn), problem(turn)));
  turn.node = item;
  turn.textNode = answerText;
  return item;
}

function rerender(turn) {
  if (!turns.includes(turn)) return;  // the conversation was cleared meanwhile
  const old = turn.node;
  const fresh = renderTurn(turn);
  if (old && old.parentNode) old.replaceWith(fresh);
  else $("conversation").append(fresh);
}

function renderAll() {
  const list = $("conversation");
  list.replaceChildren(...turns.map(renderTurn));
  $("chat-empty").hidden = turns.length > 0;
}

// While tokens arrive only the text changes; nothing else is rebuilt.
function appendToken(turn, text) {
  if (turn.status === "pending") {
    turn.status = "streaming";
    turn.node.dataset.status = "streaming";
    turn.textNode.replaceChildren();
  }
  turn.answer += text;
  const last = turn.textNode.lastChild;
  if (last && last.nodeType === Node.TEXT_NODE) last.appendData(text);
  else turn.textNode.append(text);
  keepInView();
}

function keepInView() {
  const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
  if (nearBottom) window.scrollTo({top: document.body.scrollHeight});
}

// ---- asking --------------------------------------------------------------------------------

function messageFor(error) {
  if (error.status === 503) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : " Try again shortly.";
    return `The service is busy answering other questions.${wait}`;
  }
  return error.message || String(error);
}

async function ask(turn) {
  if (running) return;
  Object.assign(turn, {status: "pending", answer: "", sources: [], sentences: [], error: "", mode: "", evidence: null});
  rerender(turn);
  save();
  const controller = new AbortController();
  running = {turn, controller};
  setBusy(true);
  turn.node.scrollIntoView({block: "nearest"});
  try {
    await askStreaming({question: turn.question, history: historyBefore(turn)}, (event, data) => {
      if (event === "token") appendToken(turn, data.text || "");
      else if (event === "sources") Object.assign(turn, {sources: data.sources || [], sentences: data.sentences || []});
      else if (event === "done") finish(turn, data);
      else if (event === "error") throw Object.assign(new Error((data.error && data.error.message) || "The answer failed."), {status: 0});
    }, controller.signal);
    if (turn.status !== "done") {
      turn.status = "error";
      turn.error = "The answer stopped before it was complete.";
    }
  } catch (e) {
    if (e.name === "AbortError") {
      turn.status = "stopped";
      turn.error = "You stopped this answer.";
    } else {
      turn.status = "error";
      turn.error = messageFor(e);
    }
  } finally {
    controller.abort();  // an error event or a broken stream: close the connection, free the slot
    running = null;
    setBusy(false);
    rerender(turn);
    save();
  }
}

function finish(turn, done) {
  Object.assign(turn, {
    status: "done",
    answer: done.answer || "",
    mode: done.mode || "",
    evidence: done.evidence !== false,
    sources: done.sources || [],
    sentences: done.sentences || [],
    seconds: done.usage ? done.usage.seconds : null,
  });
}

function setBusy(busy) {
  $("ask-button").disabled = busy;
  $("stop-button").hidden = !busy;
}

function submit(event) {
  event.preventDefault();
  const box = $("question");
  const question = box.value.trim();
  if (!question || running) return;
  box.value = "";
  const turn = {id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, question, at: Date.now()};
  turns.push(turn);
  $("chat-empty").hidden = true;
  ask(turn);
}

async function newConversation() {
  if (turns.length === 0) return;
  const ok = await confirmAction({
    title: "Start a new conversation?",
    text: "The questions and answers shown here are removed from this browser. Your documents are not touched.",
    action: "Start anew",
  });
  if (!ok) return;
  if (running) running.controller.abort();
  turns = [];
  save();
  renderAll();
  $("question").focus();
}

export function setUpChat() {
  load();
  renderAll();
  $("ask-form").addEventListener("submit", submit);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("stop-button").addEventListener("click", () => running && running.controller.abort());
  $("new-conversation").addEventListener("click", newConversation);
}

export function focusChat() {
  $("question").focus();
}
