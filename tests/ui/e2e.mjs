// Cloister's browser UI, end to end in a real browser: Debian's chromium driven by playwright-core
// against `cloister serve` on a free loopback port with a temporary data folder, an empty inbox and
// an EMPTY models folder (so answers are extractive: deterministic, and cited).
//
//   node tests/ui/e2e.mjs --cloister build/bin/cloister --shared ../shared --out DIR
//
// (or CLOISTER_BIN, CLOISTER_SHARED_DIR, CLOISTER_UI_SCREENSHOTS in the environment). Screenshots
// of each step go to DIR. Registered with ctest by tests/ui/CMakeLists.txt; its dependencies come
// from deploy/install-deps.sh (the chromium package, and `npm ci` here for playwright-core).
import assert from "node:assert/strict";
import {spawn, spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {after, before, describe, test} from "node:test";
import {parseArgs} from "node:util";

const kChromium = "/usr/bin/chromium";
const kChromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--no-first-run"];
const kIngestTimeoutMs = 180_000;  // two cores shared with a parallel ctest run
const kAnswerTimeoutMs = 60_000;
const kIdleMs = 35_000;  // longer than the service's 30 s socket timeout
const kXssSubject = "<img src=x onerror=alert(1)>";

const {values: args} = parseArgs({options: {
  cloister: {type: "string", default: process.env.CLOISTER_BIN || ""},
  shared: {type: "string", default: process.env.CLOISTER_SHARED_DIR || ""},
  out: {type: "string", default: process.env.CLOISTER_UI_SCREENSHOTS || path.join(os.tmpdir(), "cloister-ui-screenshots")},
}});

function requireSetUp() {
  const missing = [];
  if (!args.cloister || !fs.existsSync(args.cloister)) missing.push(`the cloister binary (--cloister '${args.cloister}')`);
  if (!args.shared || !fs.existsSync(args.shared)) missing.push(`the shared folder (--shared '${args.shared}')`);
  if (!fs.existsSync(kChromium)) missing.push(`${kChromium} (Debian package chromium)`);
  if (missing.length) {
    throw new Error(`missing ${missing.join(", ")}; run deploy/install-deps.sh and build the cloister target`);
  }
}

async function loadPlaywright() {
  try {
    return await import("playwright-core");
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/ui (${e.message}); run deploy/install-deps.sh`);
  }
}

// ---- the service -----------------------------------------------------------------------------

// Starts `cloister serve --port 0` in a fresh temporary folder and resolves once it logs its url.
function startService(extra = []) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cloister-ui-"));
  const dirs = {data: path.join(root, "data"), inbox: path.join(root, "inbox"), models: path.join(root, "models")};
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir);
  const child = spawn(args.cloister, ["serve", "--port", "0", "--bind", "127.0.0.1", "--data", dirs.data,
    "--inbox", dirs.inbox, "--models", dirs.models, ...extra], {stdio: ["ignore", "ignore", "pipe"]});
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloister serve logged no url within 60 s:\n${log}`)), 60_000);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      log += text;
      const m = log.match(/url=(http:\/\/127\.0\.0\.1:\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        resolve({url: m[1], child, root, dirs, log: () => log});
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`cloister serve exited (${code ?? signal}) before it served:\n${log}`));
    });
  });
}

async function stopService(service) {
  if (!service) return;
  if (process.env.CLOISTER_UI_VERBOSE) console.error(`cloister serve's log:\n${service.log()}`);
  const exited = new Promise((resolve) => service.child.once("exit", resolve));
  if (service.child.exitCode === null && service.child.signalCode === null) {
    service.child.kill("SIGTERM");
    const timer = setTimeout(() => service.child.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
  fs.rmSync(service.root, {recursive: true, force: true});
}

// ---- the browser -----------------------------------------------------------------------------

let browser;
let step = 0;

const started = Date.now();

async function shot(page, name) {
  step += 1;
  console.log(`# ${((Date.now() - started) / 1000).toFixed(1)} s: ${name}`);
  const file = path.join(args.out, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({path: file});  // the viewport, as a person sees it
  return file;
}

// A page that records what must never happen: a JavaScript dialog (alert, confirm, prompt), an
// uncaught error, a Content-Security-Policy refusal.
async function openPage(service, {width = 1280, height = 860} = {}) {
  const context = await browser.newContext({viewport: {width, height}, acceptDownloads: false});
  const page = await context.newPage();
  const trouble = {dialogs: [], errors: [], csp: []};
  page.on("dialog", async (dialog) => {
    trouble.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on("pageerror", (error) => trouble.errors.push(String(error)));
  page.on("console", (message) => {
    const text = message.text();
    if (/Content[- ]Security[- ]Policy|Refused to/i.test(text)) trouble.csp.push(text);
    // 404s are expected answers; 401s too, with authentication on (before login, a bad password).
    else if (message.type() === "error" && !/status of 40[14]/.test(text)) trouble.errors.push(text);
  });
  return {context, page, trouble};
}

function assertNoTrouble(trouble) {
  assert.deepEqual(trouble.dialogs, [], "no JavaScript dialog may open");
  assert.deepEqual(trouble.csp, [], "the page must work under its Content-Security-Policy");
  assert.deepEqual(trouble.errors, [], "the page must run without errors");
}

// Waits until the upload named `name` is ingested: its progress bar full, its state "done".
async function waitIngested(page, name) {
  const job = page.locator("li.job", {hasText: name});
  await job.waitFor({state: "visible", timeout: 30_000});
  await job.and(page.locator('[data-state="done"], [data-state="failed"]')).waitFor({timeout: kIngestTimeoutMs});
  if (await job.getAttribute("data-state") !== "done") {
    assert.fail(`ingestion of ${name} failed: ${await job.locator(".job-error").textContent({timeout: 1000}).catch(() => "")}`);
  }
  assert.equal(await job.locator("progress").evaluate((bar) => bar.value), 1, "a finished progress bar is full");
  return job;
}

// Drops a file on the page as a person dragging it from their desktop would.
async function dropFile(page, name, content, type) {
  const dataTransfer = await page.evaluateHandle(([name, content, type]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([content], name, {type}));
    return transfer;
  }, [name, content, type]);
  for (const event of ["dragenter", "dragover", "drop"]) {
    await page.dispatchEvent("#drop-zone", event, {dataTransfer});
  }
}

async function ask(page, question, {timeout = kAnswerTimeoutMs} = {}) {
  const box = page.getByLabel("Your question");
  await box.fill(question);
  const reply = page.waitForResponse((r) => r.url().endsWith("/api/v1/ask"), {timeout});
  await box.press("Enter");
  const response = await reply;
  const turn = page.locator("li.turn").last();
  await turn.and(page.locator('[data-status="done"], [data-status="error"]')).waitFor({timeout});
  return {turn, response};
}

// A two-page PDF written by hand (PDF 1.4, one Helvetica font, an Info dictionary with `title`),
// so a test can give a document any title. Pages hold plain ASCII text, one line each.
function makePdf(title, pages) {
  const literal = (text) => `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
  const objects = [];
  const add = (body) => objects.push(body);
  add("<< /Type /Catalog /Pages 2 0 R >>");
  const kids = pages.map((_, i) => `${4 + 2 * i} 0 R`).join(" ");
  add(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>`);
  add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  pages.forEach((text, i) => {
    add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> ` +
        `/Contents ${5 + 2 * i} 0 R >>`);
    const stream = `BT /F1 12 Tf 72 720 Td ${literal(text)} Tj ET`;
    add(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  });
  add(`<< /Title ${literal(title)} /Producer (cloister e2e) >>`);
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info ${objects.length} 0 R >>\n`;
  return `${out}startxref\n${xref}\n%%EOF\n`;
}

// A failed step: a screenshot of the page as it was, and the service's log.
async function failed(page, service) {
  await shot(page, "failure").catch(() => {});
  console.error(`cloister serve's log:\n${service.log()}`);
}

before(async () => {
  requireSetUp();
  fs.mkdirSync(args.out, {recursive: true});
  for (const old of fs.readdirSync(args.out)) {
    if (old.endsWith(".png")) fs.rmSync(path.join(args.out, old));
  }
  const {chromium} = await loadPlaywright();
  browser = await chromium.launch({executablePath: kChromium, headless: true, args: kChromiumArgs});
});

after(async () => {
  if (browser) await browser.close();
});

// ---- the scenarios ---------------------------------------------------------------------------

// One page for the whole scenario, as one person would use it: its connections stay open between
// the steps, as a browser's do.
describe("a PDF uploaded through the page", () => {
  let service;
  let session;
  before(async () => {
    service = await startService();
    session = await openPage(service);
  });
  after(async () => {
    if (session) await session.context.close();
    await stopService(service);
  });

  test("is ingested with a live progress bar, answers a question from page 2, and opens the cited passage", async () => {
    const pdf = path.join(args.shared, "corpus/pdfs/pdfjs/tracemonkey.pdf");
    const {page, trouble} = session;
    try {
      await page.goto(`${service.url}/#library`);
      await page.getByRole("heading", {name: "Documents", level: 1}).waitFor();
      await shot(page, "library-empty");

      await page.locator("#file-input").setInputFiles(pdf);
      await page.locator("li.job", {hasText: "tracemonkey.pdf"}).waitFor({timeout: 30_000});
      await shot(page, "upload-progress");
      await waitIngested(page, "tracemonkey.pdf");
      const doc = page.locator("li.document", {hasText: "tracemonkey.pdf"});
      await doc.waitFor({timeout: 10_000});
      assert.match(await doc.getAttribute("data-status"), /^(ready|partial)$/);
      assert.equal(await doc.locator('a[download]').getAttribute("href"),
        `/api/v1/documents/${await doc.getAttribute("data-id")}/original`);
      await shot(page, "library-ingested");

      await page.getByRole("link", {name: "Ask"}).click();
      const {turn, response} = await ask(page, "After how many crossings does a loop become hot?");
      assert.match(response.headers()["content-type"], /^text\/event-stream/, "the answer is streamed");
      assert.equal(await turn.getAttribute("data-status"), "done", await turn.textContent());
      const answer = turn.locator(".answer-text");
      assert.match(await answer.textContent(), /2 crossings/);
      assert.equal(await turn.locator(".badge").getAttribute("data-mode"), "extractive");
      const cites = answer.locator("button.cite");
      assert.ok(await cites.count() >= 1, "the answer has a citation marker");
      await shot(page, "answer");

      // The marker that follows the sentence saying "2 crossings".
      const n = await answer.evaluate((node) => {
        let seen = "";
        for (const child of node.childNodes) {
          if (child.nodeType === Node.TEXT_NODE) seen += child.textContent;
          else if (child.matches("button.cite") && seen.includes("2 crossings")) return child.dataset.n;
        }
        return null;
      });
      assert.ok(n, "a citation follows the sentence with the answer");
      const cite = answer.locator(`button.cite[data-n="${n}"]`).first();
      await cite.focus();
      await page.keyboard.press("Enter");  // keyboard-usable: a real button
      const dialog = page.locator("#passage-dialog");
      await dialog.waitFor({state: "visible"});
      assert.equal(await dialog.locator("#passage-meta div", {hasText: "Page"}).locator("dd").textContent(), "2");
      assert.match(await dialog.locator("#passage-text").textContent(), /currently after 2 crossings/);
      assert.match(await dialog.locator("#passage-title").textContent(), new RegExp(`Source ${n}`));
      await shot(page, "citation-passage");
      await page.keyboard.press("Escape");
      await dialog.waitFor({state: "hidden"});
      assert.equal(await cite.evaluate((b) => b === document.activeElement), true, "focus returns to the marker");

      // The conversation is kept across a reload.
      await page.reload();
      await page.locator("li.turn[data-status='done'] button.cite").first().waitFor();
      assert.match(await page.locator("li.turn .answer-text").last().textContent(), /2 crossings/);

      // A phone's width: readable, nothing wider than the screen.
      await page.setViewportSize({width: 375, height: 812});
      await page.locator("li.turn").last().scrollIntoViewIfNeeded();
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
        "no horizontal scrolling at 375 px");
      await shot(page, "phone-answer");
      await page.goto(`${service.url}/#library`);
      await page.locator("li.document").first().waitFor();
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
        "no horizontal scrolling in the library at 375 px");
      await shot(page, "phone-library");
      assertNoTrouble(trouble);
    } catch (e) {
      await failed(page, service);
      throw e;
    }
  });

  // The service closes a connection idle for ServerOptions::timeout_seconds (30 s); the browser
  // must see it closed and open a new one. A connection that some other process of the service
  // still holds open (an ingestion worker spawned while it was open) would swallow the request.
  test("answers a follow-up, with the first turn as history, after the page sat idle past the service's connection timeout", async () => {
    const {page, trouble} = session;
    try {
      await page.setViewportSize({width: 1280, height: 860});
      await page.getByRole("link", {name: "Ask"}).click();
      await page.locator("li.turn[data-status='done']").first().waitFor();
      await page.waitForTimeout(kIdleMs);
      const sent = page.waitForRequest((r) => r.url().endsWith("/api/v1/ask"));
      const {turn} = await ask(page, "How expensive is incrementing the loop hit counter?", {timeout: 15_000});
      const body = JSON.parse((await sent).postData());
      assert.deepEqual(body.history[0], {role: "user", content: "After how many crossings does a loop become hot?"});
      assert.equal(body.history[1].role, "assistant");
      assert.equal(await turn.getAttribute("data-status"), "done", await turn.textContent());
      assert.match(await turn.locator(".answer-text").textContent(), /loop hit counter is expensive/);
      await shot(page, "follow-up-after-idle");
      assertNoTrouble(trouble);
    } catch (e) {
      await failed(page, service);
      throw e;
    }
  });
});

describe("document text that looks like markup", () => {
  let service;
  before(async () => {
    service = await startService();
  });
  after(async () => stopService(service));

  test("a mail whose subject is an <img onerror> tag shows the subject literally and runs nothing", async () => {
    const eml = [
      "From: Mallory <mallory@example.org>",
      "To: Ann <ann@example.org>",
      `Subject: ${kXssSubject}`,
      "Date: Tue, 02 Apr 2024 10:00:00 +0000",
      "Message-ID: <markup-subject@example.org>",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "The zanzibar budget review lists <script>alert(2)</script> as an open item.",
      "The zanzibar budget is due in May.",
      "",
    ].join("\r\n");
    const {context, page, trouble} = await openPage(service);
    try {
      await page.goto(`${service.url}/#library`);
      await dropFile(page, "subject-markup.eml", eml, "message/rfc822");  // drag and drop
      await waitIngested(page, "subject-markup.eml");
      const subject = page.locator("li.document .doc-subject").first();
      await subject.waitFor({timeout: 10_000});
      assert.equal(await subject.textContent(), kXssSubject);
      assert.equal(await page.locator("main img").count(), 0, "no element was made from the subject");
      await shot(page, "markup-library");

      await page.getByRole("link", {name: "Search"}).click();
      await page.getByLabel("Words or question").fill("zanzibar budget");
      await page.getByLabel("E-mail").check();
      await page.getByRole("button", {name: "Search", exact: true}).click();
      const result = page.locator("li.result").first();
      await result.waitFor({timeout: 20_000});
      assert.ok((await result.locator(".result-mail").textContent()).includes(kXssSubject));
      await shot(page, "markup-search");

      await page.getByRole("link", {name: "Ask"}).click();
      const {turn} = await ask(page, "What does the zanzibar budget review list?");
      assert.equal(await turn.getAttribute("data-status"), "done", await turn.textContent());
      assert.ok((await turn.locator(".source-mail").first().textContent()).includes(kXssSubject));
      assert.ok((await turn.locator(".answer-text").textContent()).includes("<script>alert(2)</script>"));
      await turn.locator("button.cite").first().click();
      const meta = page.locator("#passage-meta");
      await meta.waitFor({state: "visible"});
      assert.ok((await meta.textContent()).includes(kXssSubject));
      assert.ok((await meta.textContent()).includes("Mallory <mallory@example.org>"));
      await shot(page, "markup-citation");
      assert.equal(await page.locator("img:not(.brand img)").count(), 0);

      // Whatever ran, no dialog opened and the policy refused nothing.
      await page.waitForTimeout(300);
      assertNoTrouble(trouble);
    } catch (e) {
      await failed(page, service);
      throw e;
    } finally {
      await context.close();
    }
  });

  test("a PDF whose title is an <img onerror> tag shows the title literally and runs nothing", async () => {
    const pdf = makePdf(kXssSubject, [
      "The annual report opens with a letter from the board.",
      "The quillwort inventory counted 412 plants in the north meadow.",
    ]);
    const {context, page, trouble} = await openPage(service);
    try {
      await page.goto(`${service.url}/#library`);
      await dropFile(page, "title-markup.pdf", pdf, "application/pdf");
      await waitIngested(page, "title-markup.pdf");
      const title = page.locator("li.document .doc-title", {hasText: "onerror"}).first();
      await title.waitFor({timeout: 10_000});
      assert.equal(await title.textContent(), kXssSubject);
      assert.equal(await page.locator("main img").count(), 0, "no element was made from the title");
      await shot(page, "markup-pdf-library");

      await page.getByRole("link", {name: "Search"}).click();
      await page.getByLabel("Words or question").fill("quillwort plants");
      await page.getByRole("button", {name: "Search", exact: true}).click();
      const result = page.locator("li.result").first();
      await result.waitFor({timeout: 20_000});
      assert.ok((await result.textContent()).includes(kXssSubject), await result.textContent());
      await shot(page, "markup-pdf-search");

      await page.getByRole("link", {name: "Ask"}).click();
      const {turn} = await ask(page, "How many plants were counted in the north meadow by the quillwort inventory?");
      assert.equal(await turn.getAttribute("data-status"), "done", await turn.textContent());
      assert.match(await turn.locator(".answer-text").textContent(), /412 plants/);
      await turn.locator("button.cite").first().click();
      const dialog = page.locator("#passage-dialog");
      await dialog.waitFor({state: "visible"});
      assert.ok((await dialog.textContent()).includes(kXssSubject), await dialog.textContent());
      assert.equal(await dialog.locator("#passage-meta div", {hasText: "Page"}).locator("dd").textContent(), "2");
      await shot(page, "markup-pdf-citation");
      assert.equal(await page.locator("img:not(.brand img)").count(), 0);
      await page.waitForTimeout(300);
      assertNoTrouble(trouble);
    } catch (e) {
      await failed(page, service);
      throw e;
    } finally {
      await context.close();
    }
  });
});

describe("with authentication on", () => {
  let service;
  before(async () => {
    service = await startService(["--auth"]);
    const added = spawnSync(args.cloister, ["user", "add", "ann", "--role", "user", "--data", service.dirs.data],
      {input: "correct horse\n", encoding: "utf8"});
    assert.equal(added.status, 0, added.stderr);
    // A user reads (and uploads into) only the collections granted to them (docs/security.md).
    const granted = spawnSync(args.cloister, ["grant", "ann", "default", "--data", service.dirs.data], {encoding: "utf8"});
    assert.equal(granted.status, 0, granted.stderr);
  });
  after(async () => stopService(service));

  test("the page asks for a login, refuses a wrong password, then works with its session and CSRF token", async () => {
    const {context, page, trouble} = await openPage(service);
    try {
      await page.goto(`${service.url}/`);
      await page.getByRole("heading", {name: "Log in"}).waitFor({timeout: 10_000});
      assert.equal(await page.locator("#chat-view").isVisible(), false, "nothing but the login shows");
      await page.getByLabel("User name").fill("ann");
      await page.getByLabel("Password").fill("wrong password");
      await page.getByRole("button", {name: "Log in"}).click();
      await page.locator("#login-message", {hasText: "wrong user name or password"}).waitFor({timeout: 10_000});
      await shot(page, "auth-refused");

      await page.getByLabel("Password").fill("correct horse");
      await page.getByRole("button", {name: "Log in"}).click();
      await page.getByRole("heading", {name: "Ask your documents"}).waitFor({timeout: 10_000});
      assert.equal(await page.locator("#account-name").textContent(), "ann (user)");

      // An upload (XMLHttpRequest) and a question (fetch) change state: both need the CSRF token.
      await page.goto(`${service.url}/#library`);
      await page.reload();  // the session, and its CSRF token (from /api/v1/me), survive a reload
      await page.locator("#account-name", {hasText: "ann"}).waitFor({timeout: 10_000});
      await dropFile(page, "budget.txt", "The zanzibar budget is due in May.\n", "text/plain");
      await waitIngested(page, "budget.txt");
      await page.getByRole("link", {name: "Ask"}).click();
      const {turn, response} = await ask(page, "When is the zanzibar budget due?");
      assert.equal(response.status(), 200);
      assert.equal(await turn.getAttribute("data-status"), "done", await turn.textContent());
      await shot(page, "auth-answer");

      await page.getByRole("button", {name: "Log out"}).click();
      await page.getByRole("heading", {name: "Log in"}).waitFor({timeout: 10_000});
      const status = await page.evaluate(async () => (await fetch("/api/v1/status")).status);
      assert.equal(status, 401, "the session ended on the server");
      assertNoTrouble(trouble);
    } catch (e) {
      await failed(page, service);
      throw e;
    } finally {
      await context.close();
    }
  });
});
