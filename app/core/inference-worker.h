// InferenceWorker: the only owner of engine objects in the app — the loaded Model, its
// Tokenizer and one Session per conversation (least recently used ones are dropped).
//
// Threads: the worker lives on its own QThread (InferenceThread below). The GUI calls the
// request methods (loadModel, generate, summarize, profile, checkQuality, releaseSession,
// unloadModel) only through queued invocations — InferenceThread::post() does that — so
// they run one at a time on the worker thread. stop()/stopAll() are the exception: thread-safe, callable
// directly from any thread, they set the atomic stop flag the engine checks before every
// token. Signals are emitted on the worker thread and reach GUI objects queued.
//
// Streaming: text is coalesced and emitted at most ~30 times a second (tokensGenerated),
// with a final flush before finished(). memoryChanged carries the session's KV cache
// report a few times a second while generating and after every request.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QThread>
#include <atomic>
#include <functional>
#include <map>
#include <memory>

#include "core/inference-types.h"
#include "runtime/device-check.h"

namespace kvmix {
class DeviceWeights;
class Model;
class Session;
class Tokenizer;
struct KvProfile;
}  // namespace kvmix

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    explicit InferenceWorker(QObject* parent = nullptr);
    ~InferenceWorker() override;

    // Thread-safe: a fresh id for a request (ids increase).
    int nextRequestId() { return m_nextId.fetch_add(1) + 1; }
    // Thread-safe: stops request `id` (before it starts, or at the next token).
    void stop(int id);
    // Thread-safe: stops every request issued so far.
    void stopAll();

    // Worker thread (post them). Each ends with exactly one matching signal.
    void loadModel(const QString& path);  // -> modelLoaded or modelLoadFailed
    void unloadModel();
    void generate(const GenerationRequest& request);  // -> finished
    void summarize(const SummaryRequest& request);    // -> summaryFinished
    void profile(const ProfilingRequest& request);    // -> profilingFinished
    void checkQuality(const QualityRequest& request); // -> qualityFinished
    void releaseSession(qint64 conversationId);
    // -> memoryChanged for the conversation's session (nothing when it has none).
    void reportMemory(qint64 conversationId);

    // Sessions kept at once (each holds a KV cache and a thread pool).
    static constexpr int kMaxSessions = 3;
    // Minimum interval between two tokensGenerated emissions (~30 updates/s).
    static constexpr int kCoalesceMs = 33;
    // Thread-safe; tests use 0 to see every piece as it comes.
    void setCoalesceIntervalMs(int ms) { m_coalesceMs.store(ms); }

signals:
    void modelLoading(const QString& path);
    void progress(int requestId, const QString& phase, double fraction);  // fraction < 0: unknown
    void modelLoaded(const ModelInfo& info);
    void modelLoadFailed(const QString& path, const QString& message);
    void tokensGenerated(int requestId, qint64 conversationId, const QString& text);
    void memoryChanged(const KvMemoryInfo& info);
    void finished(const GenerationOutcome& outcome);
    void summaryFinished(const SummaryOutcome& outcome);
    void profilingFinished(const ProfilingOutcome& outcome);
    void qualityFinished(const QualityOutcome& outcome);

private:
    struct ChatSession;
    bool beginRequest(int id);
    ChatSession* sessionFor(qint64 conversationId, const kvmix::KvProfile& profile, int64_t nCtx, bool* rebuilt, QString* error);
    KvMemoryInfo memoryInfo(qint64 conversationId, const kvmix::Session& session) const;
    // The load-time self-check: a short prompt on the CPU and on the GPU (m_gpuWeights),
    // logits compared (runtime/device-check.h). An error when the GPU cannot run it.
    kvmix::Expected<kvmix::DeviceCheckReport> checkGpu();

    std::shared_ptr<const kvmix::Model> m_model;
    std::unique_ptr<kvmix::Tokenizer> m_tokenizer;
    ModelInfo m_info;
    std::map<qint64, std::unique_ptr<ChatSession>> m_sessions;
    quint64 m_useCounter = 0;
    // Chat sessions run on the GPU when its self-check passed at load time; a later GPU
    // failure falls back to the CPU for that session (the reason is in deviceNote).
    bool m_useGpu = false;
    // The loaded model's device weights: uploaded once by the self-check, shared by every chat session.
    std::shared_ptr<kvmix::DeviceWeights> m_gpuWeights;

    std::atomic<int> m_nextId{0};
    std::atomic<int> m_cancelUpTo{0};
    std::atomic<int> m_currentId{0};
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_coalesceMs{kCoalesceMs};
};

// Owns the worker's thread. Destruction stops any request and joins the thread.
class InferenceThread {
public:
    InferenceThread();
    ~InferenceThread();
    InferenceThread(const InferenceThread&) = delete;
    InferenceThread& operator=(const InferenceThread&) = delete;

    InferenceWorker* worker() const { return m_worker; }
    // Runs fn(worker) on the worker thread, after the calls posted before it.
    void post(std::function<void(InferenceWorker*)> fn);

private:
    QThread m_thread;
    InferenceWorker* m_worker = nullptr;
};

// Converts a KvChoice to an engine profile for a model with n_layer layers. A choice named
// after a preset (high, balanced, compact, custom) gets the presets' storage settings
// (kvmix::apply_preset_storage: fixed fp16 window, KV rotation) whatever its widths.
// Exposed for the KV controller's memory estimates and tests.
bool kvProfileFromChoice(const KvChoice& choice, uint32_t nLayer, kvmix::KvProfile* out, QString* error);
// The storage settings of the preset called `name` on p (nothing for fp16 or another name).
void applyPresetStorage(const QString& name, kvmix::KvProfile& p);
