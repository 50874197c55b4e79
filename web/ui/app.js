// Cloister's page: three views (ask, documents, search) chosen by the address's #fragment, and a
// status line. Everything is plain modules served from the binary: no build step, no network
// beyond this service. Document-derived text is only ever inserted as text (see js/dom.js).
import {api, setCsrfToken} from "./js/api.js";
import {setUpChat, focusChat} from "./js/chat.js";
import {setUpDialogs} from "./js/dialogs.js";
import {$} from "./js/dom.js";
import {setUpLibrary, showLibrary} from "./js/library.js";
import {setUpSearch} from "./js/search.js";

const kViews = ["chat", "library", "search"];

// With authentication on and no session, only the login form shows.
let loggedOut = false;

function route({focus}) {
  $("login-view").hidden = !loggedOut;
  document.querySelector("nav[aria-label='Views']").hidden = loggedOut;
  if (loggedOut) {
    for (const name of kViews) $(`${name}-view`).hidden = true;
    document.title = "Log in · Cloister";
    if (focus) $("login-name").focus();
    return;
  }
  const wanted = location.hash.replace(/^#/, "");
  const view = kViews.includes(wanted) ? wanted : "chat";
  for (const name of kViews) $(`${name}-view`).hidden = name !== view;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showLibrary(view === "library");
  document.title = `${{chat: "Ask", library: "Documents", search: "Search"}[view]} · Cloister`;
  if (!focus) return;
  // After moving between views, keyboard and screen reader users start at the new view.
  if (view === "chat") focusChat();
  else $(`${view}-heading`).focus();
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

async function showStatus() {
  const line = $("service-status");
  try {
    const s = await api.status();
    const queue = s.queue || {};
    const queued = ["queued", "extracting", "chunking", "embedding"].reduce((n, k) => n + (queue[k] || 0), 0);
    const parts = [plural(s.documents, "document"), plural(s.chunks, "passage")];
    parts.push(s.answer_mode === "generated" ? "answers generated" : "answers quoted");
    if (queued) parts.push(`${queued} being ingested`);
    line.textContent = parts.join(" · ");
    line.classList.remove("offline");
  } catch (e) {
    const loginNeeded = e.status === 401;  // the service answers; it wants a login first
    line.textContent = loginNeeded ? "" : "The service does not answer.";
    line.classList.toggle("offline", !loginNeeded);
  }
}

function showAccount(me) {
  const signedIn = Boolean(me && me.auth && me.user);
  $("account").hidden = !signedIn;
  $("account-name").textContent = signedIn ? `${me.user} (${me.role})` : "";
}

function showLogin() {
  if (loggedOut) return;
  loggedOut = true;
  setCsrfToken("");
  showAccount(null);
  route({focus: true});
}

async function checkSession() {
  try {
    const me = await api.me();
    setCsrfToken(me.csrf_token);
    showAccount(me);
  } catch (e) {
    if (e.status === 401) showLogin();
  }
}

function setUpLogin() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = $("login-message");
    message.textContent = "";
    try {
      const me = await api.login($("login-name").value, $("login-password").value);
      setCsrfToken(me.csrf_token);
      showAccount({auth: true, ...me});
      $("login-password").value = "";
      loggedOut = false;
      route({focus: true});
      showStatus();
    } catch (e) {
      message.textContent = e.status === 429 && e.retryAfter
        ? `Too many failed attempts: wait ${e.retryAfter} s.` : e.message;
    }
  });
  $("logout-button").addEventListener("click", async () => {
    try {
      await api.logout();
    } finally {
      showLogin();
    }
  });
  document.addEventListener("cloister:unauthenticated", showLogin);
}

setUpLogin();
setUpDialogs();
setUpChat();
setUpLibrary();
setUpSearch();
window.addEventListener("hashchange", () => route({focus: true}));
document.addEventListener("cloister:changed", showStatus);
route({focus: false});
checkSession();
showStatus();
setInterval(showStatus, 30000);
