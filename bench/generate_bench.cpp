// bench/generate: answer generation against llama.cpp's own tools, same run, same model file.
//
//   build/bin/bench_generate [--threads N] [--tokens 128] [--prompt 1500] [--repeat 3]
//                            [--attempts 5] [--corpus FILE.jsonl] [--shape 0.5b|1.5b]
//                            [--model FILE.gguf] [--keep DIR]
//
// The model is a random-weight Qwen2.5-0.5B shape (24 layers, hidden 896, 14 heads, 2 KV heads,
// FFN 4864, tied embeddings, the Qwen2 vocabulary of 151,936 tokens), written as F16 and quantized
// to Q4_K_M here, so the cost per token is the real model's. --shape 1.5b builds Qwen2.5-1.5B's
// shape instead (28 layers, hidden 1536, 12 heads, 2 KV heads, FFN 8960, same vocabulary), where
// the output matrix is 15% of the weights rather than 28%. --model uses a given file instead.
// Three ratios, each ours against a reference:
//  (a) single-stream generation: tokens/s of one request generating `tokens` tokens past
//      end-of-text (ignore_eos), timed by the engine from the first sampled token to the last
//      ((tokens - 1) decode steps), against llama-bench's tg rate (`-p 0 -n tokens`);
//  (b) time to first token of one request whose raw prompt is ~`prompt` tokens of XQuAD
//      passages laid out as numbered sources, against P / llama-bench's pp rate (`-p P -n 0`,
//      P = our prompt's exact token count): the time llama.cpp needs to process the same prompt;
//  (c) aggregate tokens/s of 4 concurrent requests (4 slots, distinct short prompts, `tokens`
//      each) against 1 request alone, both from submission to the last token; beside it,
//      llama.cpp's own figure for the same thing, llama-batched-bench's generation rate with 4
//      sequences against 1 (`-npp 8 -ntg tokens -npl 1,4 -kvu`), which shows how much batching
//      can give on this machine at all.
// Ours: generate::Engine as production opens it (4 slots, 512-token steps, unified KV), with
// `threads` threads; a short request warms it up first. Both sides use the same threads and the
// same 512-token ubatch; llama-bench keeps its default repetitions (5) and reports the mean.
//
// Disturbed runs (see bench/embed_bench.cpp): a measurement counts only if its process used at
// least 90% of threads x wall in CPU time; otherwise it is repeated, up to `attempts` times.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "bench_util.h"
#include "cloister/generate/engine.h"
#include "cloister/llm/runtime.h"
#include "cloister/llm/synthetic.h"

namespace {

using namespace cloister::bench;  // bench_util.h
namespace gen = cloister::generate;

#ifdef CLOISTER_LLAMA_BENCH
const char kReference[] = CLOISTER_LLAMA_BENCH;
const char kBatched[] = CLOISTER_LLAMA_BATCHED_BENCH;
#else
const char kReference[] = "";  // configured with CLOISTER_LLAMA_REFERENCE_TOOLS=OFF
const char kBatched[] = "";
#endif

struct Args {
  int threads = 0;  // 0: every core, as production
  int tokens = 128;
  int prompt = 1500;
  int repeat = 3;
  int attempts = 5;
  fs::path corpus = fs::path(CLOISTER_SHARED_DIR) / "eval/xquad/beir-en/corpus.jsonl";
  std::string shape = "0.5b";  // the Qwen2.5 shape to build: "0.5b" or "1.5b"
  fs::path model;              // empty: build the model of `shape`
  fs::path keep;
};

// The "text" of a BEIR corpus line (quotes, backslashes and \n unescaped; \uXXXX left as is:
// the text only has to look like a passage).
std::string TextField(const std::string& line) {
  size_t at = line.find("\"text\"");
  if (at == std::string::npos || (at = line.find('"', line.find(':', at) + 1)) == std::string::npos)
    return {};
  std::string out;
  for (size_t i = at + 1; i < line.size() && line[i] != '"'; ++i) {
    if (line[i] == '\\' && i + 1 < line.size()) {
      char e = line[++i];
      out += e == 'n' ? '\n' : e;
    } else {
      out += line[i];
    }
  }
  return out;
}

// A RAG prompt: instructions, numbered source blocks from the corpus and a question, filled to
// `tokens` tokens as the engine counts them (the last passage cut at a word).
std::string BuildRagPrompt(const gen::Engine& engine, const fs::path& corpus, int tokens) {
  std::ifstream in(corpus);
  if (!in) Die("cannot read the corpus " + corpus.string() + " (--corpus FILE.jsonl)");
  const std::string question = "\nQuestion: Who led the Panthers in sacks?\nAnswer:";
  const std::string end = "\n</source>\n";
  const int budget = tokens - 1 - static_cast<int>(engine.CountTokens(question));  // 1: BOS
  auto fits = [&](const std::string& text) {
    return static_cast<int>(engine.CountTokens(text)) <= budget;
  };
  std::string prompt = "Answer only from the numbered sources and cite them as [n].\n\n";
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    std::string text = TextField(line), head = "<source n=\"" + std::to_string(++n) + "\">\n";
    if (fits(prompt + head + text + end)) {
      prompt += head + text + end;
      continue;
    }
    std::istringstream words(text);
    std::string block = head;
    for (std::string w; words >> w && fits(prompt + block + w + end);) block += w + " ";
    return prompt + block + end + question;
  }
  Die("the corpus " + corpus.string() + " has fewer than " + std::to_string(tokens) + " tokens");
}

fs::path BuildModel(const fs::path& dir, const std::string& shape) {
  using Spec = cloister::llm::SyntheticModelSpec;
  const fs::path vocab = fs::path(CLOISTER_VOCAB_DIR) / "ggml-vocab-qwen2.gguf";
  fs::path q4 = dir / ("qwen2.5-" + shape + "-shape-q4_k_m.gguf");
  BuildQuantizedModel(
      shape == "1.5b" ? Spec::Qwen25OneAndHalfBShape(vocab) : Spec::Qwen25HalfBShape(vocab), q4,
      "Q4_K_M");
  return q4;
}

gen::Request Generation(std::string prompt, int tokens) {
  gen::Request r;
  r.prompt = std::move(prompt);
  r.use_prefix_cache = false;
  r.options.max_tokens = static_cast<uint32_t>(tokens);
  r.options.ignore_eos = true;
  return r;
}

gen::Generation RunOne(gen::Engine& engine, const gen::Request& request) {
  auto out = engine.Generate(request);
  if (!out.ok()) Die("generation failed: " + out.status().ToString());
  return std::move(out).value();
}

struct OurRun {
  double value = 0;  // tokens/s or seconds, per measurement
  double wall = 0;
  double cpu = 0;
};

// Runs `measure` (returning its figure) until a run had its cores, up to `attempts` times.
OurRun MeasureOurs(const std::function<double()>& measure, const Args& args, int& discarded,
                   int& kept, const char* what) {
  for (int a = 1;; ++a) {
    double cpu = ProcessCpuSeconds();
    auto start = Clock::now();
    OurRun run;
    run.value = measure();
    run.wall = Seconds(start);
    run.cpu = ProcessCpuSeconds() - cpu;
    bool clean = Undisturbed(run.cpu, run.wall, args.threads);
    if (clean || a >= args.attempts) {
      kept += clean ? 0 : 1;
      return run;
    }
    ++discarded;
    std::fprintf(stderr, "  ours (%s) disturbed (%.0f%% CPU of %d threads over %.1f s), again\n",
                 what, 100 * run.cpu / (args.threads * run.wall), args.threads, run.wall);
  }
}

// The number after `"key":` in the first line of `text` holding `line_marker` (JSON from
// llama-bench, JSONL from llama-batched-bench).
double NumberAfter(const std::string& text, const std::string& line_marker,
                   const std::string& key) {
  size_t line = text.find(line_marker);
  size_t at = line == std::string::npos ? line : text.find("\"" + key + "\"", line);
  if (at == std::string::npos) Die("no " + key + " in the reference's output:\n" + text);
  return std::atof(text.c_str() + text.find(':', at) + 1);
}

std::vector<std::string> BenchCommand(const fs::path& model, int prompt, int gen, int threads) {
  return {kReference,
          "-m",
          model.string(),
          "-p",
          std::to_string(prompt),
          "-n",
          std::to_string(gen),
          "-t",
          std::to_string(threads),
          "-o",
          "json"};
}

// llama.cpp's own parallel decoding: `tokens` tokens for 1 and for 4 sequences after an 8-token
// prompt each, one unified KV buffer, 512-token batches, as our engine runs.
std::vector<std::string> BatchedCommand(const fs::path& model, int tokens, int threads) {
  const std::string t = std::to_string(threads);
  return {kBatched,
          "-m",
          model.string(),
          "-c",
          "2048",
          "-b",
          "512",
          "-ub",
          "512",
          "-npp",
          "8",
          "-ntg",
          std::to_string(tokens),
          "-npl",
          "1,4",
          "-t",
          t,
          "-tb",
          t,
          "-kvu",
          "--output-format",
          "jsonl"};
}

// Runs a reference tool until a run had its cores (up to `attempts` times); its stdout and stderr.
std::string MeasureTheirs(const fs::path& dir, const std::vector<std::string>& command,
                          const Args& args, int& discarded, int& kept) {
  for (int a = 1;; ++a) {
    Timed t = TimeProcess(command, dir / "ref.out", dir / "ref.err");
    bool clean = Undisturbed(t.cpu, t.wall, args.threads);
    if (clean || a >= args.attempts) {
      kept += clean ? 0 : 1;
      return ReadFile(dir / "ref.out") + ReadFile(dir / "ref.err");
    }
    ++discarded;
    std::fprintf(stderr, "  %s disturbed (%.0f%% CPU of %d threads over %.1f s), again\n",
                 fs::path(command[0]).filename().c_str(), 100 * t.cpu / (args.threads * t.wall),
                 args.threads, t.wall);
  }
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--threads") {
      a.threads = std::max(0, std::atoi(v.c_str()));
    } else if (k == "--tokens") {
      a.tokens = std::max(2, std::atoi(v.c_str()));
    } else if (k == "--prompt") {
      a.prompt = std::max(64, std::atoi(v.c_str()));
    } else if (k == "--repeat") {
      a.repeat = std::max(1, std::atoi(v.c_str()));
    } else if (k == "--attempts") {
      a.attempts = std::max(1, std::atoi(v.c_str()));
    } else if (k == "--corpus") {
      a.corpus = v;
    } else if (k == "--shape") {
      if (v != "0.5b" && v != "1.5b") Die("--shape is 0.5b or 1.5b, not " + v);
      a.shape = v;
    } else if (k == "--model") {
      a.model = v;
    } else if (k == "--keep") {
      a.keep = v;
    } else {
      Die("unknown option " + k + " (see the comment at the top of bench/generate_bench.cpp)");
    }
  }
  if (a.threads == 0) a.threads = cloister::llm::DefaultThreads();
  return a;
}

struct Figures {
  std::vector<double> single, single_wall, ttft, alone, together;  // ours
  std::vector<double> tg, pp, batched1, batched4;                  // llama.cpp's tools
};

const char* const kShortPrompts[] = {"Once upon a time", "The quarterly report shows",
                                     "Dear colleagues, the meeting", "In the contract, clause 4"};

// (c): `n` requests at once, each `tokens` long; aggregate tokens/s from submission to the end.
double Aggregate(gen::Engine& engine, int n, int tokens) {
  auto start = Clock::now();
  std::vector<std::future<gen::Generation>> runs;
  for (int i = 0; i < n; ++i) {
    runs.push_back(std::async(std::launch::async, [&engine, i, tokens] {
      return RunOne(engine, Generation(kShortPrompts[i % 4], tokens));
    }));
  }
  double generated = 0;
  for (auto& r : runs) generated += r.get().generated_tokens;
  return generated / Seconds(start);
}

// Whether batching changed greedy answers: each short prompt alone (twice, to rule out run-to-run
// differences), then all four at once; how many agree, and for how many bytes they do.
void CompareAloneAndTogether(gen::Engine& engine, int tokens) {
  std::vector<std::string> alone, again;
  for (const char* p : kShortPrompts) alone.push_back(RunOne(engine, Generation(p, tokens)).text);
  for (const char* p : kShortPrompts) again.push_back(RunOne(engine, Generation(p, tokens)).text);
  std::vector<std::future<gen::Generation>> runs;
  for (const char* p : kShortPrompts) {
    runs.push_back(std::async(std::launch::async, [&engine, p, tokens] {
      return RunOne(engine, Generation(p, tokens));
    }));
  }
  int repeatable = 0, same = 0;
  std::string agree;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string together = runs[i].get().text;
    repeatable += alone[i] == again[i] ? 1 : 0;
    same += together == alone[i] ? 1 : 0;
    auto diff = std::mismatch(together.begin(), together.end(), alone[i].begin(), alone[i].end());
    agree += (i ? ", " : "") + std::to_string(diff.first - together.begin()) + "/" +
             std::to_string(alone[i].size());
  }
  std::printf(
      "  greedy answers: alone twice identical %d of 4; alone and 4 at once identical %d of 4 "
      "(bytes in agreement: %s)\n",
      repeatable, same, agree.c_str());
}

void MeasureOnce(gen::Engine& engine, const std::string& rag, const Args& args, Figures& f,
                 int& discarded, int& kept) {
  double wall_rate = 0;
  auto single = [&] {
    gen::Generation g = RunOne(engine, Generation(kShortPrompts[0], args.tokens));
    wall_rate = g.generated_tokens / g.total_seconds;
    return (g.generated_tokens - 1) / (g.total_seconds - g.first_token_seconds);
  };
  f.single.push_back(MeasureOurs(single, args, discarded, kept, "single stream").value);
  f.single_wall.push_back(wall_rate);
  auto ttft = [&] { return RunOne(engine, Generation(rag, 1)).first_token_seconds; };
  f.ttft.push_back(MeasureOurs(ttft, args, discarded, kept, "first token").value);
  auto alone = [&] { return Aggregate(engine, 1, args.tokens); };
  f.alone.push_back(MeasureOurs(alone, args, discarded, kept, "one request").value);
  auto together = [&] { return Aggregate(engine, 4, args.tokens); };
  f.together.push_back(MeasureOurs(together, args, discarded, kept, "four requests").value);
}

void MeasureReferences(const fs::path& dir, const fs::path& model, int prompt_tokens,
                       const Args& args, Figures& f, int& discarded, int& kept) {
  if (kReference[0]) {
    auto tg = MeasureTheirs(dir, BenchCommand(model, 0, args.tokens, args.threads), args, discarded,
                            kept);
    f.tg.push_back(NumberAfter(tg, "\"avg_ts\"", "avg_ts"));
    auto pp = MeasureTheirs(dir, BenchCommand(model, prompt_tokens, 0, args.threads), args,
                            discarded, kept);
    f.pp.push_back(NumberAfter(pp, "\"avg_ts\"", "avg_ts"));
  }
  if (kBatched[0]) {
    auto out =
        MeasureTheirs(dir, BatchedCommand(model, args.tokens, args.threads), args, discarded, kept);
    f.batched1.push_back(NumberAfter(out, "\"pl\": 1,", "speed_tg"));
    f.batched4.push_back(NumberAfter(out, "\"pl\": 4,", "speed_tg"));
  }
}

void Report(const Args& args, const Figures& f, int prompt_tokens, const fs::path& model) {
  const double single = Median(f.single), ttft = Median(f.ttft), alone = Median(f.alone),
               together = Median(f.together);
  std::printf("%s\n%d threads, %d tokens per request, median of %d runs\n", model.c_str(),
              args.threads, args.tokens, args.repeat);
  std::printf("  (a) single stream: ours %.2f tokens/s (%.2f counting the prompt)", single,
              Median(f.single_wall));
  if (kReference[0]) {
    double tg = Median(f.tg);
    std::printf("; llama-bench tg%d %.2f; ratio %.2f (target >= 0.90)", args.tokens, tg,
                single / tg);
  }
  std::printf("\n  (b) first token of a %d-token prompt: ours %.3f s", prompt_tokens, ttft);
  if (kReference[0]) {
    double pp = Median(f.pp);
    std::printf("; llama-bench pp%d %.1f tokens/s, so %.3f s; ratio %.2f (>= 1: as fast)",
                prompt_tokens, pp, prompt_tokens / pp, prompt_tokens / pp / ttft);
  }
  std::printf("\n  (c) 4 concurrent: ours %.2f tokens/s, 1 alone %.2f; ratio %.2f (target >= 2)\n",
              together, alone, together / alone);
  if (kBatched[0]) {
    double b1 = Median(f.batched1), b4 = Median(f.batched4);
    std::printf(
        "      llama-batched-bench: 4 sequences %.2f tokens/s, 1 sequence %.2f; ratio %.2f; "
        "ours/theirs at 4: %.2f\n",
        b4, b1, b4 / b1, together / b4);
  }
  if (!kReference[0])
    std::printf("  no reference: configure with -DCLOISTER_LLAMA_REFERENCE_TOOLS=ON\n");
  std::printf("  reference commands:\n");
  if (kReference[0]) {
    std::printf("    %s\n    %s\n",
                Joined(BenchCommand(model, 0, args.tokens, args.threads)).c_str(),
                Joined(BenchCommand(model, prompt_tokens, 0, args.threads)).c_str());
  }
  if (kBatched[0])
    std::printf("    %s\n", Joined(BatchedCommand(model, args.tokens, args.threads)).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  double load_before = LoadAverage();
  fs::path dir = WorkDir(args.keep, "cloister-bench-generate");
  fs::path model = args.model.empty() ? BuildModel(dir, args.shape) : args.model;
  gen::EngineOptions options;  // production defaults but for threads and a context for the prompt
  options.threads = args.threads;
  options.context_tokens = static_cast<uint32_t>(args.prompt + args.tokens + 64);
  auto opened = gen::Engine::Open(model, options);
  if (!opened.ok()) Die("cannot open the engine: " + opened.status().ToString());
  gen::Engine& engine = **opened;
  const std::string rag = BuildRagPrompt(engine, args.corpus, args.prompt);
  const int prompt_tokens = static_cast<int>(RunOne(engine, Generation(rag, 1)).prompt_tokens);
  RunOne(engine, Generation("Hello", 8));  // warm-up

  Figures f;
  int discarded = 0, kept = 0;
  for (int r = 0; r < args.repeat; ++r) {
    MeasureOnce(engine, rag, args, f, discarded, kept);
    MeasureReferences(dir, model, prompt_tokens, args, f, discarded, kept);
    std::fprintf(stderr,
                 "run %d: single %.2f tok/s, first token %.3f s, 1 alone %.2f, 4 at once %.2f; "
                 "llama-bench tg %.2f pp %.1f; llama-batched-bench 1: %.2f 4: %.2f\n",
                 r + 1, f.single.back(), f.ttft.back(), f.alone.back(), f.together.back(),
                 f.tg.empty() ? 0 : f.tg.back(), f.pp.empty() ? 0 : f.pp.back(),
                 f.batched1.empty() ? 0 : f.batched1.back(),
                 f.batched4.empty() ? 0 : f.batched4.back());
  }
  Report(args, f, prompt_tokens, model);
  CompareAloneAndTogether(engine, args.tokens);
  std::printf(
      "  disturbed measurements: %d repeated, %d kept%s; load average (1 min) %.2f before, "
      "%.2f after\n",
      discarded, kept, kept ? " (figures unreliable: run on an idle machine)" : "", load_before,
      LoadAverage());
  if (args.keep.empty()) fs::remove_all(dir);
  return 0;
}
