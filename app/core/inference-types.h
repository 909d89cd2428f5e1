// Plain value types that cross the thread boundary between the GUI and the InferenceWorker
// (queued signal arguments and request payloads). Copyable, no engine types, Qt only.
#pragma once

#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>

struct ChatTurn {
    QString role;  // "system", "user", "assistant"
    QString content;
};

// Sampling and context settings of a conversation (stored as its sampling_json).
struct SamplingSettings {
    double temperature = 0.7;
    int topK = 40;
    double topP = 0.95;
    double minP = 0.05;
    double repeatPenalty = 1.1;
    qint64 seed = -1;           // < 0: a fresh random seed per answer
    int maxTokens = 512;        // < 0: until end of turn or the context policy stops it
    int contextLength = 4096;   // requested context (clamped to the model's training context)
    QString contextPolicy = QStringLiteral("truncate");  // "truncate", "rolling", "error"

    QJsonObject toJson() const;
    static SamplingSettings fromJson(const QJsonObject& json);  // missing keys keep defaults
    bool operator==(const SamplingSettings&) const = default;
};

// The KV cache choice for a request: a spec for parse_kv_spec ("fp16", "k2v4",
// "profile:FILE") or, when layerBits is not empty, explicit per-layer bits
// (layerBits[2*i] = key bits, layerBits[2*i+1] = value bits of layer i).
struct KvChoice {
    QString spec = QStringLiteral("fp16");
    QString name = QStringLiteral("fp16");  // shown to the user
    QVector<int> layerBits;
    bool operator==(const KvChoice&) const = default;
};

struct GenerationRequest {
    int id = 0;                 // from InferenceWorker::nextRequestId()
    qint64 conversationId = 0;  // selects (or creates) the worker's session for this chat
    QList<ChatTurn> turns;      // system prompt (optional) first, ends with the user turn
    SamplingSettings sampling;
    KvChoice kv;
};

struct GenerationOutcome {
    int id = 0;
    qint64 conversationId = 0;
    QString text;
    // "eog", "max_tokens", "stop_string", "cancelled", "context_full" or "error".
    QString reason;
    QString error;              // set when reason == "error"
    qint64 promptTokens = 0;
    qint64 promptEvaluated = 0;
    qint64 generated = 0;
    double timeToFirstToken = 0;  // seconds
    double decodeTps = 0;
    double prefillTps = 0;
    bool truncated = false;       // the context policy dropped tokens
    qint64 tokensDropped = 0;
    QString contextNote;
    bool reprefilled = false;     // the session was rebuilt (new KV choice or context length)
    QString templateNote;         // why the built-in chat template was used, if it was

    bool stopped() const { return reason == QLatin1String("cancelled"); }
    bool failed() const { return reason == QLatin1String("error"); }
    QJsonObject statsJson() const;
};

struct LayerMemoryInfo {
    quint64 bytes = 0;
    quint64 fp16Bytes = 0;
    double kBits = 16;
    double vBits = 16;
};

struct KvMemoryInfo {
    qint64 conversationId = 0;
    qint64 tokens = 0;
    qint64 capacity = 0;
    quint64 bytes = 0;
    quint64 fp16Bytes = 0;
    quint64 allocatedBytes = 0;
    QVector<LayerMemoryInfo> layers;
};

struct LayerShapeInfo {
    qint64 nHeadKv = 0;
    qint64 headDim = 0;
    qint64 headDimV = 0;
};

// A model's stored importance profile (see profiler-hook.h).
struct StoredProfileInfo {
    QString path;                         // empty: the model has no stored profile
    QMap<QString, QVector<int>> presets;  // "high"/"balanced"/"compact" -> k0, v0, k1, v1, ...
    QVector<double> kScores;              // per layer
    QVector<double> vScores;
    QString calibration;                  // how the profile was made, for the UI
    QStringList calibrationSources;       // the engine's names: "text", "conversations", "self-generated"
    QStringList calibrationFiles;         // text files by name, for "text"
};

struct ModelInfo {
    QString path;
    QString name;
    QString architecture;
    QString format;  // "gguf" or "safetensors"
    quint64 fileBytes = 0;
    quint64 weightBytes = 0;
    int nLayer = 0;
    int nEmbd = 0;
    int nHead = 0;
    int nVocab = 0;
    int contextLength = 0;
    bool hasChatTemplate = false;
    QString tokenizerKind;
    QVector<LayerShapeInfo> layers;
    StoredProfileInfo profile;
    QString profileError;  // a stored profile exists but cannot be used
    QString deviceNote;    // where it runs, and why not on a GPU
};

struct SummaryRequest {
    int id = 0;
    QString documentName;
    QString text;
    SamplingSettings sampling;
    KvChoice kv;
    int summaryTokens = 384;  // per summary (each map step and the final one)
};

struct SummaryOutcome {
    int id = 0;
    QString summary;
    QString reason;      // as GenerationOutcome::reason
    QString error;
    qint64 documentTokens = 0;
    int chunks = 0;      // 1: one pass; more: map-reduce over that many chunks
    int passes = 0;      // reduce rounds
    qint64 contextLength = 0;
    quint64 kvBytes = 0;      // KV cache of the largest pass, true bytes
    quint64 kvFp16Bytes = 0;  // and what fp16 would have used
    QString kvName;
};

struct ProfilingRequest {
    int id = 0;
    int sequences = 8;         // self-generated calibration sequences (0: none)
    int sequenceLength = 128;  // tokens each; user text is cut into windows of this length
    quint64 seed = 1;
    QStringList texts;         // calibration text chosen by the user
    // How the texts are described in the stored profile: "text" (files, named in
    // fileNames) or "conversations".
    QString textSource = QStringLiteral("text");
    QStringList fileNames;
};

struct ProfilingOutcome {
    int id = 0;
    QString reason;  // "complete", "cancelled" or "error"
    QString error;
    StoredProfileInfo profile;
};

// Quality check: perplexity of a sample text with an fp16 KV cache and with `kv`, the
// text prefilled in chunks of `chunk` tokens so later chunks attend to earlier ones
// through the (quantized) cache; the tokens after the first chunk are scored.
struct QualityRequest {
    int id = 0;
    QString text;
    QString sourceName;    // "this conversation" or a file name, for the UI
    KvChoice kv;
    int maxTokens = 1024;  // the text is cut to this many tokens (BOS included)
    int chunk = 128;       // halved for short texts so half of them is scored
};

struct QualityOutcome {
    int id = 0;
    QString reason;  // "complete", "cancelled" or "error"
    QString error;
    QString kvName;
    QString sourceName;
    qint64 tokens = 0;           // tokens read (BOS included)
    qint64 scored = 0;           // tokens scored
    int chunk = 0;
    double fp16Perplexity = 0;
    double perplexity = 0;       // with the preset's cache
    double meanKl = 0;           // mean KL(fp16 || preset) of the next-token distributions, nats
    double seconds = 0;
};

Q_DECLARE_METATYPE(GenerationRequest)
Q_DECLARE_METATYPE(QualityRequest)
Q_DECLARE_METATYPE(QualityOutcome)
Q_DECLARE_METATYPE(ProfilingOutcome)
Q_DECLARE_METATYPE(GenerationOutcome)
Q_DECLARE_METATYPE(KvMemoryInfo)
Q_DECLARE_METATYPE(ModelInfo)
Q_DECLARE_METATYPE(SummaryRequest)
Q_DECLARE_METATYPE(SummaryOutcome)
