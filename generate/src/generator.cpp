#include "cloister/generate/generator.h"

namespace cloister::generate {
namespace {

class EngineGenerator final : public Generator {
 public:
  explicit EngineGenerator(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

  Result<Generation> Generate(std::string_view prompt, const GenerateOptions& options,
                              const TokenCallback& on_token) override {
    Request request;
    request.prompt = std::string(prompt);
    request.options = options;
    return engine_->Generate(request, on_token);
  }

 private:
  std::unique_ptr<Engine> engine_;
};

}  // namespace

Result<std::unique_ptr<Generator>> Generator::Open(const std::filesystem::path& model,
                                                   const GeneratorOptions& options) {
  EngineOptions engine;
  engine.slots = 1;
  engine.queue = 64;
  engine.context_tokens = options.context_tokens;
  engine.threads = options.threads;
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<Engine> opened, Engine::Open(model, engine));
  return std::unique_ptr<Generator>(new EngineGenerator(std::move(opened)));
}

}  // namespace cloister::generate
