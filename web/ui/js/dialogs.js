// The two dialogs: one passage (cited by an answer or found by search) and a confirmation for
// deleting. Both are <dialog> elements opened modally: focus moves in, Escape closes, and focus
// returns to the button that opened them.
import {api} from "./api.js";
import {$, baseName, documentLabel, formatTime, metaList, withQuotesMarked} from "./dom.js";

let returnFocus = null;

function openModal(dialog) {
  returnFocus = document.activeElement;
  dialog.showModal();
}

function restoreFocus() {
  if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
  returnFocus = null;
}

// Shows a passage: `passage` is {document, page, text} as in search results and answer sources;
// `quotes` are sentences of an answer to mark inside it; `label` names it ("Source 1").
export function showPassage(passage, {label = "", quotes = []} = {}) {
  const doc = passage.document || {};
  const dialog = $("passage-dialog");
  const title = documentLabel(doc);
  $("passage-title").textContent = label ? `${label}: ${title}` : title;
  const file = doc.name || baseName(doc.path);
  metaList($("passage-meta"), [
    ["Document", title],
    ["File", file !== title ? file : ""],
    ["Page", passage.page ?? ""],
    ["From", doc.from],
    ["Date", doc.date ? formatTime(doc.date) : ""],
    ["Subject", doc.subject],
    ["Type", doc.type],
  ]);
  const text = $("passage-text");
  text.replaceChildren(...withQuotesMarked(passage.text || "", quotes));
  text.dataset.page = passage.page ?? "";
  const original = $("passage-original");
  original.hidden = doc.id === undefined || doc.id === null;
  if (!original.hidden) original.href = api.originalUrl(doc.id);
  dialog.dataset.documentId = doc.id ?? "";
  openModal(dialog);
  text.scrollTop = 0;
}

// Resolves true when the person confirms, false on Cancel or Escape.
export function confirmAction({title, text, action}) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = action;
  return new Promise((resolve) => {
    const finish = (ok) => {
      $("confirm-ok").removeEventListener("click", yes);
      $("confirm-cancel").removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      if (dialog.open) dialog.close();
      restoreFocus();
      resolve(ok);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    $("confirm-ok").addEventListener("click", yes);
    $("confirm-cancel").addEventListener("click", no);
    dialog.addEventListener("close", no);
    openModal(dialog);
    $("confirm-cancel").focus();
  });
}

export function setUpDialogs() {
  const dialog = $("passage-dialog");
  $("passage-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", restoreFocus);
  // A click on the backdrop (outside the dialog's box) closes it too.
  dialog.addEventListener("click", (e) => {
    if (e.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside) dialog.close();
  });
}
