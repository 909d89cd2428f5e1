#include "core/inference-worker.h"

#include "core/profiler-hook.h"

#include <QFileInfo>
#include <QJsonObject>
#include <QRandomGenerator>
#include <algorithm>
#include <cmath>
#include <span>

#include "backend/device-weights.h"
#include "backend/device.h"
#include "model/model-file.h"
#include "model/model.h"
#include "profile/bit-allocation.h"
#include "runtime/device-check.h"
#include "runtime/generation.h"
#include "runtime/logit-stats.h"
#include "runtime/kv-profile.h"
#include "runtime/session.h"
#include "tokenizer/chat-prompt.h"
#include "tokenizer/tokenizer-loader.h"
#include "tokenizer/tokenizer.h"

namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QString reasonName(kvmix::StopReason reason) {
    switch (reason) {
        case kvmix::StopReason::eog: return QStringLiteral("eog");
        case kvmix::StopReason::max_tokens: return QStringLiteral("max_tokens");
        case kvmix::StopReason::stop_string: return QStringLiteral("stop_string");
        case kvmix::StopReason::cancelled: return QStringLiteral("cancelled");
        case kvmix::StopReason::context_full: return QStringLiteral("context_full");
    }
    return QStringLiteral("error");
}

bool sameProfile(const kvmix::KvProfile& a, const kvmix::KvProfile& b) {
    if (a.name != b.name || a.group_size != b.group_size || a.sinks != b.sinks || a.window_min != b.window_min ||
        a.window_max != b.window_max || a.rotate_keys != b.rotate_keys || a.rotate_values != b.rotate_values ||
        a.layers.size() != b.layers.size())
        return false;
    for (size_t i = 0; i < a.layers.size(); ++i) {
        const auto& x = a.layers[i];
        const auto& y = b.layers[i];
        if (x.k_bits != y.k_bits || x.v_bits != y.v_bits || x.k_window_ratio != y.k_window_ratio ||
            x.v_window_ratio != y.v_window_ratio)
            return false;
    }
    return true;
}

kvmix::GenerationParams generationParams(const SamplingSettings& s, int64_t nCtx) {
    kvmix::GenerationParams p;
    p.sampling.temperature = static_cast<float>(s.temperature);
    p.sampling.top_k = s.topK;
    p.sampling.top_p = static_cast<float>(s.topP);
    p.sampling.min_p = static_cast<float>(s.minP);
    p.sampling.repeat_penalty = static_cast<float>(s.repeatPenalty);
    p.sampling.seed = s.seed >= 0 ? static_cast<uint64_t>(s.seed) : QRandomGenerator::global()->generate64();
    // An answer may use at most half the context, so a long answer never pushes the
    // whole conversation out (the policies need room for the prompt).
    const int64_t cap = std::max<int64_t>(1, nCtx / 2);
    p.max_tokens = s.maxTokens < 0 ? -1 : static_cast<int32_t>(std::min<int64_t>(s.maxTokens, cap));
    if (s.contextPolicy == QLatin1String("rolling"))
        p.context_policy = kvmix::ContextPolicy::rolling_window;
    else if (s.contextPolicy == QLatin1String("error"))
        p.context_policy = kvmix::ContextPolicy::error;
    else
        p.context_policy = kvmix::ContextPolicy::truncate_middle;
    return p;
}

std::vector<kvmix::ChatMessage> chatMessages(const QList<ChatTurn>& turns) {
    std::vector<kvmix::ChatMessage> out;
    out.reserve(static_cast<size_t>(turns.size()));
    for (const ChatTurn& t : turns) out.push_back({t.role.toStdString(), t.content.toStdString()});
    return out;
}

}  // namespace

QJsonObject SamplingSettings::toJson() const {
    return QJsonObject{{QStringLiteral("temperature"), temperature}, {QStringLiteral("top_k"), topK},
                       {QStringLiteral("top_p"), topP},           {QStringLiteral("min_p"), minP},
                       {QStringLiteral("repeat_penalty"), repeatPenalty},
                       {QStringLiteral("seed"), static_cast<double>(seed)},
                       {QStringLiteral("max_tokens"), maxTokens}, {QStringLiteral("context_length"), contextLength},
                       {QStringLiteral("context_policy"), contextPolicy}};
}

SamplingSettings SamplingSettings::fromJson(const QJsonObject& j) {
    SamplingSettings s;
    s.temperature = j.value(QStringLiteral("temperature")).toDouble(s.temperature);
    s.topK = j.value(QStringLiteral("top_k")).toInt(s.topK);
    s.topP = j.value(QStringLiteral("top_p")).toDouble(s.topP);
    s.minP = j.value(QStringLiteral("min_p")).toDouble(s.minP);
    s.repeatPenalty = j.value(QStringLiteral("repeat_penalty")).toDouble(s.repeatPenalty);
    s.seed = static_cast<qint64>(j.value(QStringLiteral("seed")).toDouble(static_cast<double>(s.seed)));
    s.maxTokens = j.value(QStringLiteral("max_tokens")).toInt(s.maxTokens);
    s.contextLength = j.value(QStringLiteral("context_length")).toInt(s.contextLength);
    s.contextPolicy = j.value(QStringLiteral("context_policy")).toString(s.contextPolicy);
    return s;
}

QJsonObject GenerationOutcome::statsJson() const {
    return QJsonObject{{QStringLiteral("reason"), reason},
                       {QStringLiteral("prompt_tokens"), static_cast<double>(promptTokens)},
                       {QStringLiteral("generated"), static_cast<double>(generated)},
                       {QStringLiteral("ttft_s"), timeToFirstToken},
                       {QStringLiteral("tps"), decodeTps},
                       {QStringLiteral("prefill_tps"), prefillTps},
                       {QStringLiteral("truncated"), truncated},
                       {QStringLiteral("context_note"), contextNote},
                       {QStringLiteral("error"), error}};
}

void applyPresetStorage(const QString& name, kvmix::KvProfile& p) {
    if (p.is_fp16()) return;
    if (name == QLatin1String("custom")) {
        kvmix::apply_preset_storage(kvmix::KvPreset{}, p);
        return;
    }
    auto preset = kvmix::parse_preset(name.toStdString());
    if (preset) kvmix::apply_preset_storage(*preset, p);
}

bool kvProfileFromChoice(const KvChoice& choice, uint32_t nLayer, kvmix::KvProfile* out, QString* error) {
    if (choice.layerBits.isEmpty()) {
        auto p = kvmix::parse_kv_spec(choice.spec.toStdString(), nLayer);
        if (!p) {
            *error = qs(p.status().message());
            return false;
        }
        applyPresetStorage(choice.name, *p);
        *out = std::move(p).value();
        return true;
    }
    if (choice.layerBits.size() != static_cast<qsizetype>(2 * nLayer)) {
        *error = QObject::tr("The custom precision lists %1 layers; the model has %2.")
                     .arg(choice.layerBits.size() / 2)
                     .arg(nLayer);
        return false;
    }
    kvmix::KvProfile p = kvmix::uniform_kv_profile(nLayer, 16, 16);
    p.name = choice.name.isEmpty() ? std::string("custom") : choice.name.toStdString();
    for (uint32_t i = 0; i < nLayer; ++i) {
        auto& l = p.layers[i];
        l.k_bits = choice.layerBits[2 * i];
        l.v_bits = choice.layerBits[2 * i + 1];
        l.k_window_ratio = l.k_bits > 2 ? 0.2f : 0.1f;
        l.v_window_ratio = l.v_bits > 2 ? 0.2f : 0.1f;
    }
    applyPresetStorage(choice.name, p);
    if (kvmix::Status st = kvmix::validate(p, nLayer); !st.ok()) {
        *error = qs(st.message());
        return false;
    }
    *out = std::move(p);
    return true;
}

struct InferenceWorker::ChatSession {
    std::unique_ptr<kvmix::Session> session;
    kvmix::KvProfile profile;
    int64_t requestedCtx = 0;
    quint64 lastUse = 0;
};

InferenceWorker::InferenceWorker(QObject* parent) : QObject(parent) {
    qRegisterMetaType<GenerationRequest>();
    qRegisterMetaType<GenerationOutcome>();
    qRegisterMetaType<KvMemoryInfo>();
    qRegisterMetaType<ModelInfo>();
    qRegisterMetaType<SummaryRequest>();
    qRegisterMetaType<SummaryOutcome>();
    qRegisterMetaType<ProfilingOutcome>();
    qRegisterMetaType<QualityRequest>();
    qRegisterMetaType<QualityOutcome>();
}

InferenceWorker::~InferenceWorker() = default;

void InferenceWorker::stop(int id) {
    int seen = m_cancelUpTo.load();
    while (seen < id && !m_cancelUpTo.compare_exchange_weak(seen, id)) {
    }
    // Ids below `id` are cancelled too; a request that is running now stops at its next token.
    if (m_currentId.load() != 0 && m_currentId.load() <= id) m_stop.store(true);
}

void InferenceWorker::stopAll() { stop(m_nextId.load()); }

bool InferenceWorker::beginRequest(int id) {
    m_currentId.store(id);
    m_stop.store(id <= m_cancelUpTo.load());
    return !m_stop.load();
}

void InferenceWorker::loadModel(const QString& path) {
    emit modelLoading(path);
    m_sessions.clear();
    m_gpuWeights.reset();
    m_tokenizer.reset();
    m_model.reset();
    m_info = ModelInfo{};
    const std::string p = path.toStdString();
    emit progress(0, tr("Opening %1").arg(QFileInfo(path).fileName()), 0.1);
    auto file = kvmix::ModelFile::open(p);
    if (!file) {
        emit modelLoadFailed(path, qs(file.status().message()));
        return;
    }
    emit progress(0, tr("Preparing the weights"), 0.5);
    auto model = kvmix::Model::from_file(*file);
    if (!model) {
        emit modelLoadFailed(path, qs(model.status().message()));
        return;
    }
    emit progress(0, tr("Loading the tokenizer"), 0.85);
    auto tokenizer = kvmix::load_tokenizer((*model)->file());
    if (!tokenizer) {
        emit modelLoadFailed(path, tr("The model has no usable tokenizer: %1").arg(qs(tokenizer.status().message())));
        return;
    }
    m_model = *model;
    m_tokenizer = std::move(tokenizer).value();

    const kvmix::ModelFile& f = m_model->file();
    const kvmix::ModelHParams& hp = f.hparams();
    ModelInfo info;
    info.path = path;
    info.name = hp.name.empty() ? QFileInfo(path).fileName() : qs(hp.name);
    info.architecture = qs(hp.architecture);
    info.format = f.format() == kvmix::ModelFormat::gguf ? QStringLiteral("gguf") : QStringLiteral("safetensors");
    info.fileBytes = f.file_bytes();
    info.weightBytes = f.weight_bytes();
    info.nLayer = static_cast<int>(hp.n_layer);
    info.nEmbd = static_cast<int>(hp.n_embd);
    info.nHead = static_cast<int>(hp.n_head);
    info.nVocab = static_cast<int>(hp.n_vocab);
    info.contextLength = static_cast<int>(hp.context_length);
    info.hasChatTemplate = !f.chat_template().empty();
    info.tokenizerKind = qs(f.tokenizer_kind());
    for (const kvmix::KvLayerShape& s : m_model->kv_shapes()) info.layers.push_back({s.n_head_kv, s.head_dim, s.head_dim_v});
    info.profile = findStoredProfile(f, &info.profileError);
    const kvmix::CudaAvailability cuda = kvmix::cuda_availability();
    m_useGpu = false;
    if (cuda.available) {
        m_gpuWeights = std::make_shared<kvmix::DeviceWeights>(m_model);
        // Used only when the GPU computes what the CPU does: see runtime/device-check.h.
        const kvmix::Expected<kvmix::DeviceCheckReport> check = checkGpu();
        m_useGpu = check.ok() && check->passed;
        if (!m_useGpu) m_gpuWeights.reset();
        if (!check.ok())
            info.deviceNote = tr("CPU (the CUDA device could not be used: %1)").arg(qs(check.status().message()));
        else if (!check->passed)
            info.deviceNote = tr("CPU (the GPU's results differ from the CPU's: %1)").arg(qs(check->summary));
        else
            info.deviceNote = tr("Chats run on the GPU (CUDA), checked against the CPU at load: %1. Summaries and quality "
                                 "checks run on the CPU.")
                                  .arg(qs(check->summary));
    } else {
        info.deviceNote = tr("CPU (no GPU: %1)").arg(qs(cuda.reason));
    }
    m_info = info;
    emit progress(0, tr("Ready"), 1.0);
    emit modelLoaded(info);
}

kvmix::Expected<kvmix::DeviceCheckReport> InferenceWorker::checkGpu() {
    auto ids = m_tokenizer->encode(kvmix::device_check_text(), true, false);
    if (!ids) return ids.status();
    kvmix::SessionConfig cfg;
    cfg.gpu_weights = m_gpuWeights;
    return kvmix::check_gpu_against_cpu(m_model, *ids, cfg);
}

void InferenceWorker::unloadModel() {
    m_sessions.clear();
    m_gpuWeights.reset();
    m_tokenizer.reset();
    m_model.reset();
    m_info = ModelInfo{};
}

void InferenceWorker::releaseSession(qint64 conversationId) { m_sessions.erase(conversationId); }

void InferenceWorker::reportMemory(qint64 conversationId) {
    auto it = m_sessions.find(conversationId);
    if (it != m_sessions.end()) emit memoryChanged(memoryInfo(conversationId, *it->second->session));
}

InferenceWorker::ChatSession* InferenceWorker::sessionFor(qint64 conversationId, const kvmix::KvProfile& profile,
                                                          int64_t nCtx, bool* rebuilt, QString* error) {
    *rebuilt = false;
    auto it = m_sessions.find(conversationId);
    if (it != m_sessions.end() && (it->second->requestedCtx != nCtx || !sameProfile(it->second->profile, profile))) {
        m_sessions.erase(it);
        it = m_sessions.end();
        *rebuilt = true;
    }
    if (it == m_sessions.end()) {
        while (static_cast<int>(m_sessions.size()) >= kMaxSessions) {
            auto oldest = std::min_element(m_sessions.begin(), m_sessions.end(),
                                           [](const auto& a, const auto& b) { return a.second->lastUse < b.second->lastUse; });
            m_sessions.erase(oldest);
        }
        kvmix::SessionConfig cfg;
        cfg.n_ctx = nCtx;
        cfg.kv_profile = profile;
        if (m_useGpu) {
            cfg.device = kvmix::DeviceKind::cuda;
            cfg.gpu_weights = m_gpuWeights;
        }
        auto session = kvmix::Session::create(m_model, cfg);
        if (!session && cfg.device == kvmix::DeviceKind::cuda) {
            cfg.device = kvmix::DeviceKind::cpu;
            session = kvmix::Session::create(m_model, cfg);
        }
        if (!session) {
            *error = qs(session.status().message());
            return nullptr;
        }
        auto cs = std::make_unique<ChatSession>();
        cs->session = std::move(session).value();
        cs->profile = profile;
        cs->requestedCtx = nCtx;
        it = m_sessions.emplace(conversationId, std::move(cs)).first;
    }
    it->second->lastUse = ++m_useCounter;
    return it->second.get();
}

KvMemoryInfo InferenceWorker::memoryInfo(qint64 conversationId, const kvmix::Session& session) const {
    const kvmix::KvMemoryReport r = session.kv_memory();
    KvMemoryInfo info;
    info.conversationId = conversationId;
    info.tokens = r.n_tokens;
    info.capacity = r.capacity;
    info.bytes = r.bytes;
    info.fp16Bytes = r.fp16_bytes;
    info.allocatedBytes = r.allocated_bytes;
    for (const kvmix::KvLayerMemory& l : r.layers) info.layers.push_back({l.bytes, l.fp16_bytes, l.k_bits, l.v_bits});
    return info;
}

void InferenceWorker::generate(const GenerationRequest& request) {
    GenerationOutcome out;
    out.id = request.id;
    out.conversationId = request.conversationId;
    auto fail = [&](const QString& message) {
        out.reason = QStringLiteral("error");
        out.error = message;
        m_currentId.store(0);
        emit finished(out);
    };
    if (!beginRequest(request.id)) {
        out.reason = QStringLiteral("cancelled");
        m_currentId.store(0);
        emit finished(out);
        return;
    }
    if (!m_model || !m_tokenizer) return fail(tr("No model is loaded."));
    if (request.turns.isEmpty()) return fail(tr("There is nothing to answer."));

    QString err;
    kvmix::KvProfile profile;
    if (!kvProfileFromChoice(request.kv, m_model->hparams().n_layer, &profile, &err)) return fail(err);
    auto chat = kvmix::build_chat_prompt(m_model->file(), *m_tokenizer, chatMessages(request.turns));
    if (!chat) return fail(qs(chat.status().message()));
    if (chat->used_builtin) out.templateNote = qs(chat->note);

    const int64_t trainCtx = std::max<int64_t>(1, m_info.contextLength);
    const int64_t nCtx = std::clamp<int64_t>(request.sampling.contextLength, 16, trainCtx);
    ChatSession* cs = sessionFor(request.conversationId, profile, nCtx, &out.reprefilled, &err);
    if (!cs) return fail(err);
    kvmix::Session& session = *cs->session;

    kvmix::GenerationParams params = generationParams(request.sampling, session.n_ctx());
    // Never drop the system prompt: keep the tokens of the system turn when it renders as a prefix.
    params.keep_prefix = 1;
    if (request.turns.first().role == QLatin1String("system")) {
        auto sys = kvmix::build_chat_prompt(m_model->file(), *m_tokenizer, chatMessages({request.turns.first()}), false);
        if (sys && sys->tokens.size() < chat->tokens.size() &&
            std::equal(sys->tokens.begin(), sys->tokens.end(), chat->tokens.begin()))
            params.keep_prefix = static_cast<int64_t>(sys->tokens.size());
    }

    emit progress(request.id, tr("Reading the conversation"), -1);
    QString pending;
    QElapsedTimer sinceEmit;
    QElapsedTimer sinceMemory;
    sinceEmit.start();
    sinceMemory.start();
    auto onText = [&](std::string_view text) {
        pending += QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size()));
        if (sinceEmit.elapsed() >= m_coalesceMs.load()) {
            emit tokensGenerated(request.id, request.conversationId, pending);
            pending.clear();
            sinceEmit.restart();
        }
        if (sinceMemory.elapsed() >= 250) {
            emit memoryChanged(memoryInfo(request.conversationId, session));
            sinceMemory.restart();
        }
        return true;
    };
    auto result = kvmix::generate(session, *m_tokenizer, chat->tokens, params, onText, &m_stop);
    if (!pending.isEmpty()) emit tokensGenerated(request.id, request.conversationId, pending);
    emit memoryChanged(memoryInfo(request.conversationId, session));
    if (!result) {
        if (result.status().code() == kvmix::ErrorCode::cancelled) {
            out.reason = QStringLiteral("cancelled");
            m_currentId.store(0);
            emit finished(out);
            return;
        }
        return fail(qs(result.status().message()));
    }
    out.text = qs(result->text);
    out.reason = reasonName(result->reason);
    out.promptTokens = result->stats.prompt_tokens;
    out.promptEvaluated = result->stats.prompt_evaluated;
    out.generated = result->stats.generated;
    out.timeToFirstToken = result->stats.time_to_first_token;
    out.decodeTps = result->stats.decode_tps();
    out.prefillTps = result->stats.prefill_tps();
    out.truncated = result->context.truncated;
    out.tokensDropped = result->context.tokens_dropped;
    out.contextNote = qs(result->context.description);
    m_currentId.store(0);
    emit finished(out);
}

void InferenceWorker::summarize(const SummaryRequest& request) {
    SummaryOutcome out;
    out.id = request.id;
    auto finish = [&](const QString& reason, const QString& message = {}) {
        out.reason = reason;
        out.error = message;
        m_currentId.store(0);
        emit summaryFinished(out);
    };
    if (!beginRequest(request.id)) return finish(QStringLiteral("cancelled"));
    if (!m_model || !m_tokenizer) return finish(QStringLiteral("error"), tr("No model is loaded."));
    QString err;
    kvmix::KvProfile profile;
    if (!kvProfileFromChoice(request.kv, m_model->hparams().n_layer, &profile, &err)) return finish(QStringLiteral("error"), err);
    out.kvName = request.kv.name;

    const int64_t trainCtx = std::max<int64_t>(1, m_info.contextLength);
    kvmix::SessionConfig cfg;
    cfg.n_ctx = std::clamp<int64_t>(request.sampling.contextLength, 16, trainCtx);
    cfg.kv_profile = profile;
    auto created = kvmix::Session::create(m_model, cfg);
    if (!created) return finish(QStringLiteral("error"), qs(created.status().message()));
    kvmix::Session& session = **created;
    const int64_t nCtx = session.n_ctx();
    out.contextLength = nCtx;

    // The instruction follows the text: small instruction-tuned models otherwise lose it
    // behind a long document and continue the text instead of summarizing it.
    const QString mapInstruction = tr("Summarize the part of a document above in a few sentences.");
    const QString finalInstruction = tr("Summarize the document above in a few sentences.");
    auto overheadOf = [&](const QString& instruction) -> int64_t {
        auto p = kvmix::build_chat_prompt(m_model->file(), *m_tokenizer, {{"user", ("\n\n" + instruction).toStdString()}});
        return p ? static_cast<int64_t>(p->tokens.size()) + 8 : 64;
    };
    const int64_t overhead = std::max(overheadOf(mapInstruction), overheadOf(finalInstruction));
    const int64_t summaryTokens = std::clamp<int64_t>(request.summaryTokens, 8, std::max<int64_t>(8, (nCtx - overhead) / 3));
    const int64_t budget = nCtx - overhead - summaryTokens;
    if (budget < 16) return finish(QStringLiteral("error"), tr("The context (%1 tokens) is too small to summarize.").arg(nCtx));

    auto encode = [&](const QString& text) -> std::vector<int32_t> {
        auto ids = m_tokenizer->encode(text.toStdString(), false, false);
        return ids ? std::move(ids).value() : std::vector<int32_t>{};
    };
    auto split = [&](const std::vector<int32_t>& ids) {
        QStringList parts;
        for (size_t at = 0; at < ids.size(); at += static_cast<size_t>(budget)) {
            const size_t n = std::min(ids.size() - at, static_cast<size_t>(budget));
            parts << qs(m_tokenizer->decode(std::span<const int32_t>(ids).subspan(at, n)));
        }
        return parts;
    };
    kvmix::GenerationParams params = generationParams(request.sampling, nCtx);
    params.max_tokens = static_cast<int32_t>(summaryTokens);
    params.context_policy = kvmix::ContextPolicy::truncate_middle;
    params.keep_prefix = 1;

    // One generation; streams only for the final pass. Returns false when stopped or failed.
    auto run = [&](const QString& instruction, const QString& text, bool stream, QString* summary) -> bool {
        auto chat = kvmix::build_chat_prompt(m_model->file(), *m_tokenizer, {{"user", (text + "\n\n" + instruction).toStdString()}});
        if (!chat) {
            finish(QStringLiteral("error"), qs(chat.status().message()));
            return false;
        }
        QString pending;
        QElapsedTimer sinceEmit;
        sinceEmit.start();
        auto onText = [&](std::string_view piece) {
            if (!stream) return true;
            pending += QString::fromUtf8(piece.data(), static_cast<qsizetype>(piece.size()));
            if (sinceEmit.elapsed() >= m_coalesceMs.load()) {
                emit tokensGenerated(request.id, 0, pending);
                pending.clear();
                sinceEmit.restart();
            }
            return true;
        };
        auto result = kvmix::generate(session, *m_tokenizer, chat->tokens, params, onText, &m_stop);
        if (!pending.isEmpty()) emit tokensGenerated(request.id, 0, pending);
        const kvmix::KvMemoryReport mem = session.kv_memory();
        if (mem.fp16_bytes > out.kvFp16Bytes) {
            out.kvBytes = mem.bytes;
            out.kvFp16Bytes = mem.fp16_bytes;
        }
        if (!result) {
            if (result.status().code() == kvmix::ErrorCode::cancelled)
                finish(QStringLiteral("cancelled"));
            else
                finish(QStringLiteral("error"), qs(result.status().message()));
            return false;
        }
        if (result->reason == kvmix::StopReason::cancelled) {
            out.summary = qs(result->text);
            finish(QStringLiteral("cancelled"));
            return false;
        }
        *summary = qs(result->text).trimmed();
        return true;
    };

    std::vector<int32_t> ids = encode(request.text);
    out.documentTokens = static_cast<qint64>(ids.size());
    if (ids.empty()) return finish(QStringLiteral("error"), tr("The document is empty."));
    out.chunks = static_cast<int>((ids.size() + static_cast<size_t>(budget) - 1) / static_cast<size_t>(budget));

    // Map-reduce: summarize budget-sized chunks, join, repeat until the text fits one pass.
    QString text = request.text;
    int step = 0;
    const int totalSteps = out.chunks > 1 ? out.chunks + 1 : 1;
    while (static_cast<int64_t>(ids.size()) > budget) {
        ++out.passes;
        if (out.passes > 4) {
            // Summaries that do not shrink (a model that writes on to its token limit):
            // keep the first budget tokens of what we have rather than loop forever.
            ids.resize(static_cast<size_t>(budget));
            text = qs(m_tokenizer->decode(ids));
            break;
        }
        const QStringList parts = split(ids);
        QStringList summaries;
        for (int i = 0; i < parts.size(); ++i) {
            emit progress(request.id, tr("Summarizing part %1 of %2 (round %3)").arg(i + 1).arg(parts.size()).arg(out.passes),
                          std::min(0.95, static_cast<double>(step) / totalSteps));
            QString s;
            if (!run(mapInstruction, parts[i], false, &s)) return;
            summaries << s;
            ++step;
        }
        text = summaries.join(QStringLiteral("\n\n"));
        ids = encode(text);
        if (ids.empty()) return finish(QStringLiteral("error"), tr("The model produced empty summaries."));
    }
    emit progress(request.id, tr("Writing the summary"), std::min(0.95, static_cast<double>(step) / totalSteps));
    QString summary;
    if (!run(finalInstruction, text, true, &summary)) return;
    out.summary = summary;
    emit progress(request.id, tr("Done"), 1.0);
    finish(QStringLiteral("complete"));
}

void InferenceWorker::profile(const ProfilingRequest& request) {
    ProfilingOutcome out;
    out.id = request.id;
    auto finish = [&](const QString& reason, const QString& message = {}) {
        out.reason = reason;
        out.error = message;
        m_currentId.store(0);
        emit profilingFinished(out);
    };
    if (!beginRequest(request.id)) return finish(QStringLiteral("cancelled"));
    if (!m_model || !m_tokenizer) return finish(QStringLiteral("error"), tr("No model is loaded."));
    bool cancelled = false;
    QString err;
    const bool ok = runProfiling(
        m_model, *m_tokenizer, request, [&](const QString& stage, double fraction) { emit progress(request.id, stage, fraction); },
        &m_stop, &cancelled, &err);
    if (!ok) return finish(cancelled ? QStringLiteral("cancelled") : QStringLiteral("error"), err);
    out.profile = findStoredProfile(m_model->file(), &err);
    if (out.profile.path.isEmpty()) return finish(QStringLiteral("error"), err.isEmpty() ? tr("The profile was not stored.") : err);
    m_info.profile = out.profile;
    finish(QStringLiteral("complete"));
}

void InferenceWorker::checkQuality(const QualityRequest& request) {
    QualityOutcome out;
    out.id = request.id;
    out.kvName = request.kv.name;
    out.sourceName = request.sourceName;
    auto finish = [&](const QString& reason, const QString& message = {}) {
        out.reason = reason;
        out.error = message;
        m_currentId.store(0);
        emit qualityFinished(out);
    };
    if (!beginRequest(request.id)) return finish(QStringLiteral("cancelled"));
    if (!m_model || !m_tokenizer) return finish(QStringLiteral("error"), tr("No model is loaded."));
    QString err;
    kvmix::KvProfile fp16;
    kvmix::KvProfile quantized;
    if (!kvProfileFromChoice(KvChoice{}, m_model->hparams().n_layer, &fp16, &err) ||
        !kvProfileFromChoice(request.kv, m_model->hparams().n_layer, &quantized, &err))
        return finish(QStringLiteral("error"), err);

    auto encoded = m_tokenizer->encode(request.text.toStdString(), false, false);
    if (!encoded) return finish(QStringLiteral("error"), qs(encoded.status().message()));
    std::vector<int32_t> ids;
    if (m_tokenizer->add_bos() && m_tokenizer->bos() >= 0) ids.push_back(m_tokenizer->bos());
    ids.insert(ids.end(), encoded->begin(), encoded->end());
    const auto trainCtx = static_cast<size_t>(std::max(16, m_info.contextLength));
    ids.resize(std::min({ids.size(), static_cast<size_t>(std::max(16, request.maxTokens)), trainCtx}));
    const auto n = static_cast<int64_t>(ids.size());
    if (n < 16) return finish(QStringLiteral("error"), tr("The sample has %1 tokens; the check needs at least 16.").arg(n));
    const int64_t chunk = std::clamp<int64_t>(request.chunk, 1, n / 2);
    out.tokens = n;
    out.chunk = static_cast<int>(chunk);

    // Both caches see the same chunks in the same order, so the fp16 and the quantized
    // distributions of every scored position are compared side by side (no stored logits).
    auto makeSession = [&](const kvmix::KvProfile& profile) {
        kvmix::SessionConfig cfg;
        cfg.n_ctx = n;
        cfg.n_batch = chunk;
        cfg.kv_profile = profile;
        return kvmix::Session::create(m_model, cfg);
    };
    auto base = makeSession(fp16);
    if (!base) return finish(QStringLiteral("error"), qs(base.status().message()));
    auto test = makeSession(quantized);
    if (!test) return finish(QStringLiteral("error"), qs(test.status().message()));

    QElapsedTimer timer;
    timer.start();
    const int64_t nVocab = m_model->hparams().n_vocab;
    const std::span<const int32_t> all(ids);
    double nllBase = 0;
    double nllTest = 0;
    double kl = 0;
    int64_t scored = 0;
    // rows[i] predicts ids[first + i + 1]; rows is [count, n_vocab].
    auto score = [&](const std::vector<float>& rowsBase, const std::vector<float>& rowsTest, int64_t first, int64_t count) {
        for (int64_t i = 0; i < count && first + i + 1 < n; ++i) {
            const float* p = rowsBase.data() + i * nVocab;
            const float* q = rowsTest.data() + i * nVocab;
            const double lseP = kvmix::log_sum_exp(p, nVocab);
            const double lseQ = kvmix::log_sum_exp(q, nVocab);
            const int32_t target = ids[static_cast<size_t>(first + i + 1)];
            nllBase += lseP - p[target];
            nllTest += lseQ - q[target];
            kl += kvmix::kl_divergence(p, lseP, q, lseQ, nVocab);
            ++scored;
        }
    };
    const int64_t nChunks = (n + chunk - 1) / chunk;
    std::vector<float> rowsBase;
    std::vector<float> rowsTest;
    for (int64_t c = 0; c < nChunks; ++c) {
        emit progress(request.id, tr("Measuring %1 against fp16: chunk %2 of %3").arg(request.kv.name).arg(c + 1).arg(nChunks),
                      static_cast<double>(c) / static_cast<double>(nChunks));
        if (m_stop.load()) return finish(QStringLiteral("cancelled"));
        const int64_t begin = c * chunk;
        const auto part = all.subspan(static_cast<size_t>(begin), static_cast<size_t>(std::min(chunk, n - begin)));
        // The first chunk is context only: its last position predicts the first scored token.
        const bool first = c == 0;
        for (auto [session, rows] : {std::pair{base->get(), &rowsBase}, std::pair{test->get(), &rowsTest}}) {
            const kvmix::Status st = first ? session->eval(part, rows, nullptr, &m_stop) : session->eval(part, nullptr, rows, &m_stop);
            if (st.code() == kvmix::ErrorCode::cancelled) return finish(QStringLiteral("cancelled"));
            if (!st.ok()) return finish(QStringLiteral("error"), qs(st.message()));
        }
        if (first)
            score(rowsBase, rowsTest, chunk - 1, 1);
        else
            score(rowsBase, rowsTest, begin, static_cast<int64_t>(part.size()));
    }
    out.scored = scored;
    out.fp16Perplexity = std::exp(nllBase / static_cast<double>(scored));
    out.perplexity = std::exp(nllTest / static_cast<double>(scored));
    out.meanKl = kl / static_cast<double>(scored);
    out.seconds = static_cast<double>(timer.elapsed()) / 1000.0;
    emit progress(request.id, tr("Done"), 1.0);
    finish(QStringLiteral("complete"));
}

InferenceThread::InferenceThread() : m_worker(new InferenceWorker) {
    m_thread.setObjectName(QStringLiteral("inference"));
    m_worker->moveToThread(&m_thread);
    QObject::connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.start();
}

InferenceThread::~InferenceThread() {
    m_worker->stopAll();
    m_thread.quit();
    m_thread.wait();
}

void InferenceThread::post(std::function<void(InferenceWorker*)> fn) {
    InferenceWorker* w = m_worker;
    QMetaObject::invokeMethod(w, [w, fn = std::move(fn)] { fn(w); }, Qt::QueuedConnection);
}
