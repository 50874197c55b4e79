// Cloister's page: asks the JSON API and shows the answer and its sources. Document-derived text
// is only ever set as textContent, never parsed as HTML.
"use strict";

async function showStatus() {
  const status = document.getElementById("status");
  try {
    const s = await (await fetch("/api/v1/status")).json();
    status.textContent = `${s.documents} documents, ${s.chunks} passages; search: ${s.retrieval_mode}, answers: ${s.answer_mode}`;
  } catch (e) {
    status.textContent = "The service does not answer.";
  }
}

async function ask(event) {
  event.preventDefault();
  const question = document.getElementById("question").value;
  const answer = document.getElementById("answer");
  const sources = document.getElementById("sources");
  answer.textContent = "…";
  sources.replaceChildren();
  const reply = await fetch("/api/v1/ask", {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({question}),
  });
  const body = await reply.json();
  if (!reply.ok) {
    answer.textContent = body.error ? body.error.message : `Error ${reply.status}`;
    return;
  }
  answer.textContent = body.answer;
  for (const s of body.sources) {
    const item = document.createElement("li");
    item.value = s.n;
    const page = s.page ? `, page ${s.page}` : "";
    item.textContent = `${s.document.title || s.document.path}${page}: ${s.text}`;
    sources.append(item);
  }
}

document.getElementById("ask-form").addEventListener("submit", ask);
showStatus();
