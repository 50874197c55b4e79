// Cloister's OpenAI-compatible API (/v1/) through the official `openai` npm client, as an
// application written for OpenAI would use it: `cloister serve` on a free loopback port with a
// temporary data folder and a models folder holding stories260K (a real, tiny chat model) and a
// tiny random-weight BERT embedding model, after `cloister ingest` of a PDF from the corpus.
//
//   node tests/ui/openai_client.mjs --cloister build/bin/cloister \
//     --make-embedding-model build/bin/make_embedding_model --shared ../shared
//
// (or CLOISTER_BIN, CLOISTER_MAKE_EMBEDDING_MODEL, CLOISTER_SHARED_DIR in the environment).
// Registered with ctest as openai_client by tests/ui/CMakeLists.txt; the `openai` package comes
// from deploy/install-deps.sh (`npm ci` here).
import assert from "node:assert/strict";
import {spawn, spawnSync} from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {after, before, describe, test} from "node:test";
import {parseArgs} from "node:util";

const kQuestion = "After how many crossings does a loop become hot?";
const kPaper = "corpus/pdfs/pdfjs/tracemonkey.pdf";
const kChatModel = "stories.gguf";
const kEmbeddingModel = "tiny-bert.gguf";
const kDimension = 64;

const {values: args} = parseArgs({options: {
  cloister: {type: "string", default: process.env.CLOISTER_BIN || ""},
  "make-embedding-model": {type: "string", default: process.env.CLOISTER_MAKE_EMBEDDING_MODEL || ""},
  shared: {type: "string", default: process.env.CLOISTER_SHARED_DIR || ""},
}});

function requireSetUp() {
  const missing = [];
  if (!args.cloister || !fs.existsSync(args.cloister)) missing.push(`the cloister binary (--cloister '${args.cloister}')`);
  const maker = args["make-embedding-model"];
  if (!maker || !fs.existsSync(maker)) missing.push(`make_embedding_model (--make-embedding-model '${maker}')`);
  if (!args.shared || !fs.existsSync(path.join(args.shared, kPaper))) missing.push(`the shared folder (--shared '${args.shared}')`);
  if (missing.length) throw new Error(`missing ${missing.join(", ")}; build the cloister and make_embedding_model targets`);
}

async function loadOpenAI() {
  try {
    return (await import("openai")).default;
  } catch (e) {
    throw new Error(`the openai package is not installed in tests/ui (${e.message}); run deploy/install-deps.sh`);
  }
}

function run(command, argv) {
  const r = spawnSync(command, argv, {encoding: "utf8", timeout: 300_000});
  if (r.status !== 0) throw new Error(`${command} ${argv.join(" ")} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}

// A data folder with the paper ingested, and the two models.
function prepare() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cloister-openai-"));
  const dirs = {data: path.join(root, "data"), inbox: path.join(root, "inbox"), models: path.join(root, "models")};
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir);
  fs.copyFileSync(path.join(args.shared, "models/stories260K.gguf"), path.join(dirs.models, kChatModel));
  run(args["make-embedding-model"], [path.join(dirs.models, kEmbeddingModel)]);
  const report = JSON.parse(run(args.cloister, ["ingest", "--data", dirs.data, "--models", dirs.models, "--json",
    path.join(args.shared, kPaper)]));
  assert.equal(report.failed.length, 0, `ingestion failed: ${JSON.stringify(report.failed)}`);
  assert.ok(report.chunks > 0);
  return {root, dirs};
}

// Starts `cloister serve --port 0` and resolves once it logs its url.
function startService({root, dirs}) {
  const child = spawn(args.cloister, ["serve", "--port", "0", "--bind", "127.0.0.1", "--data", dirs.data,
    "--inbox", dirs.inbox, "--models", dirs.models], {stdio: ["ignore", "ignore", "pipe"]});
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloister serve logged no url within 60 s:\n${log}`)), 60_000);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      log += text;
      const m = log.match(/url=(http:\/\/127\.0\.0\.1:\d+)/);
      if (m && timer) {
        clearTimeout(timer);
        resolve({url: m[1], child, root, log: () => log});
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

const norm = (v) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));

let service;
let client;
const exchanges = [];  // what the client sent and received, for checks on the wire format

before(async () => {
  requireSetUp();
  const OpenAI = await loadOpenAI();
  service = await startService(prepare());
  // The client's own fetch, recording each exchange.
  const recordingFetch = async (url, init) => {
    const response = await fetch(url, init);
    exchanges.push({url: String(url), body: init?.body ? JSON.parse(init.body) : null, response: response.clone()});
    return response;
  };
  client = new OpenAI({baseURL: `${service.url}/v1`, apiKey: "unused", fetch: recordingFetch, maxRetries: 0});
});

after(async () => stopService(service));

describe("the official openai client", () => {
  test("lists the chat and the embedding model, and retrieves one", async () => {
    const ids = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, "model");
      assert.equal(model.owned_by, "cloister");
      ids.push(model.id);
    }
    assert.deepEqual(ids, [kChatModel, kEmbeddingModel]);
    const one = await client.models.retrieve(kChatModel);
    assert.equal(one.id, kChatModel);
  });

  test("gets a whole completion with its sources", async () => {
    const completion = await client.chat.completions.create({
      model: kChatModel, max_tokens: 32, temperature: 0,
      messages: [{role: "system", content: "Answer briefly."}, {role: "user", content: kQuestion}],
    });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.model, kChatModel);
    const [choice] = completion.choices;
    assert.equal(choice.message.role, "assistant");
    assert.ok(choice.message.content.trim().length > 0, "the answer has text");
    assert.ok(["stop", "length"].includes(choice.finish_reason), choice.finish_reason);
    assert.equal(completion.mode, "generated");
    assert.ok(Array.isArray(completion.sources), "sources beside choices");
    for (const source of completion.sources) {
      assert.ok(source.n >= 1 && source.text.length > 0 && source.document.path.endsWith("tracemonkey.pdf"));
    }
    assert.ok(completion.usage.completion_tokens > 0);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  });

  test("streams a completion: role, deltas, then the finish reason with the sources", async () => {
    const stream = await client.chat.completions.create({
      model: kChatModel, max_tokens: 32, stream: true, stream_options: {include_usage: true},
      messages: [{role: "user", content: [{type: "text", text: kQuestion}]}],
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const withChoices = chunks.filter((c) => c.choices.length > 0);
    const finish = withChoices.at(-1);
    assert.ok(["stop", "length"].includes(finish.choices[0].finish_reason), finish.choices[0].finish_reason);
    assert.equal(finish.mode, "generated");
    assert.ok(Array.isArray(finish.sources));
    const text = withChoices.map((c) => c.choices[0].delta.content ?? "").join("");
    assert.ok(text.trim().length > 0, "the streamed answer has text");
    assert.ok(chunks.at(-1).usage.completion_tokens > 0, "the usage chunk comes last");
    assert.ok(chunks.every((c) => c.id === chunks[0].id && c.object === "chat.completion.chunk"));
  });

  test("embeds through the client's default base64 encoding and as floats, alike", async () => {
    const input = [kQuestion, "trace trees and type-specialized code"];
    const fromBase64 = await client.embeddings.create({model: kEmbeddingModel, input});
    const sent = exchanges.at(-1);
    assert.equal(sent.body.encoding_format, "base64", "the client asks for base64 by default");
    const raw = await sent.response.json();
    assert.equal(typeof raw.data[0].embedding, "string", "and the server sends base64");
    const asFloats = await client.embeddings.create({model: kEmbeddingModel, input, encoding_format: "float"});
    assert.equal(fromBase64.model, kEmbeddingModel);
    assert.ok(fromBase64.usage.prompt_tokens > 0);
    assert.equal(fromBase64.data.length, 2);
    for (const [i, item] of fromBase64.data.entries()) {
      assert.equal(item.index, i);
      assert.equal(item.embedding.length, kDimension);
      assert.ok(Math.abs(norm(item.embedding) - 1) < 1e-4, `norm ${norm(item.embedding)}`);
      const floats = asFloats.data[i].embedding;
      assert.equal(floats.length, kDimension);
      for (let j = 0; j < kDimension; ++j) assert.equal(Math.fround(floats[j]), item.embedding[j]);
    }
    assert.notDeepEqual(fromBase64.data[0].embedding, fromBase64.data[1].embedding);
  });

  test("reports errors as the client's typed errors", async () => {
    await assert.rejects(client.embeddings.create({model: "text-embedding-3-small", input: "x"}), (e) => {
      assert.equal(e.status, 404);
      assert.equal(e.code, "model_not_found");
      return true;
    });
    await assert.rejects(client.embeddings.create({model: kEmbeddingModel, input: "x", dimensions: 1536}), (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.param, "dimensions");
      return true;
    });
    await assert.rejects(client.chat.completions.create({model: kChatModel, messages: [{role: "system", content: "x"}]}),
      (e) => {
        assert.equal(e.status, 400);
        assert.equal(e.type, "invalid_request_error");
        assert.match(e.message, /user message/);
        return true;
      });
  });
});
