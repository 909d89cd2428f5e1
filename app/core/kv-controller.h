// KvController: the KVmix choices and numbers the UI shows — presets (fp16 / high /
// balanced / compact / custom) with their memory per token and the tokens that fit a
// budget, the per-layer precision table of the current preset (heatmap, custom editor),
// the live memory panel (weights, KV true vs fp16 bytes, ratio, tokens, history), and
// running the importance profiler. Until a model is profiled, high / balanced / compact
// use uniform bits (uniformFallback) and say so.
// GUI thread only. Memory estimates follow the cache's own rules (windows, sinks, pages);
// the live numbers come from the worker's reports.
#pragma once

#include <QObject>
#include <QVariantList>
#include <QVariantMap>
#include <memory>

#include "core/inference-types.h"
#include "runtime/kv-profile.h"

class InferenceThread;

class KvController : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString preset READ preset WRITE setPreset NOTIFY presetChanged)
    Q_PROPERTY(QVariantList presets READ presets NOTIFY presetsChanged)
    Q_PROPERTY(double budgetMiB READ budgetMiB WRITE setBudgetMiB NOTIFY presetsChanged)
    Q_PROPERTY(QVariantList layers READ layers NOTIFY layersChanged)
    Q_PROPERTY(bool profiled READ profiled NOTIFY layersChanged)
    Q_PROPERTY(QString presetNote READ presetNote NOTIFY layersChanged)
    Q_PROPERTY(bool canProfile READ canProfile CONSTANT)
    Q_PROPERTY(bool hasModel READ hasModel NOTIFY presetsChanged)
    Q_PROPERTY(QVariantMap memory READ memory NOTIFY memoryChanged)
    Q_PROPERTY(QVariantList history READ history NOTIFY memoryChanged)
    Q_PROPERTY(QString applyNote READ applyNote NOTIFY presetChanged)
    Q_PROPERTY(bool profiling READ profiling NOTIFY profilingChanged)
    Q_PROPERTY(double profilingProgress READ profilingProgress NOTIFY profilingChanged)
    Q_PROPERTY(QString profilingText READ profilingText NOTIFY profilingChanged)
    Q_PROPERTY(bool checking READ checking NOTIFY qualityChanged)
    Q_PROPERTY(double checkProgress READ checkProgress NOTIFY qualityChanged)
    Q_PROPERTY(QString checkText READ checkText NOTIFY qualityChanged)
    // The last complete quality check: preset, source, tokens, scored, fp16Perplexity,
    // perplexity, delta, deltaPercent, meanKl, seconds (empty before the first one).
    Q_PROPERTY(QVariantMap checkResult READ checkResult NOTIFY qualityChanged)
public:
    // inference: where profiling runs (may be null: profiling unavailable).
    explicit KvController(InferenceThread* inference = nullptr, QObject* parent = nullptr);

    static QStringList presetKeys();  // fp16, high, balanced, compact, custom
    // The uniform bits a preset uses until it is profiled: {k, v}.
    static QPair<int, int> uniformFallback(const QString& preset);

    QString preset() const { return m_preset; }
    void setPreset(const QString& preset);
    QVariantList presets() const;
    double budgetMiB() const { return m_budgetMiB; }
    void setBudgetMiB(double mib);
    QVariantList layers() const;
    bool profiled() const;
    QString presetNote() const;
    bool canProfile() const;
    bool profiling() const { return m_profilingId != 0; }
    double profilingProgress() const { return m_profilingProgress; }
    QString profilingText() const { return m_profilingText; }
    Q_INVOKABLE bool startProfiling(int sequences = 8, int sequenceLength = 128);
    // Profiling on the user's text instead of self-generated text: text files (paths or
    // file URLs; .txt, .md, .pdf as DocumentReader reads them), or the given conversation
    // texts. Returns false (with profilingText saying why) when nothing can be read.
    Q_INVOKABLE bool startProfilingFromFiles(const QVariantList& files, int sequenceLength = 128);
    Q_INVOKABLE bool startProfilingFromConversations(const QStringList& texts, int sequenceLength = 128);
    Q_INVOKABLE void cancelProfiling();

    // Quality check of the current preset against fp16 on `text` (see QualityRequest);
    // sourceName is shown with the result. The file variant reads a .txt/.md/.pdf file.
    Q_INVOKABLE bool startQualityCheck(const QString& text, const QString& sourceName);
    Q_INVOKABLE bool startQualityCheckFile(const QString& pathOrUrl);
    Q_INVOKABLE void cancelQualityCheck();
    bool checking() const { return m_checkId != 0; }
    double checkProgress() const { return m_checkProgress; }
    QString checkText() const { return m_checkText; }
    QVariantMap checkResult() const { return m_checkResult; }
    // Tokens of sample text the check reads at most, and its chunk (tests lower them).
    void setQualityLimits(int maxTokens, int chunk) { m_checkMaxTokens = maxTokens; m_checkChunk = chunk; }
    bool hasModel() const { return m_model.nLayer > 0; }
    QVariantMap memory() const;
    QVariantList history() const { return m_history; }
    QString applyNote() const { return m_applyNote; }

    // The choice sent with the next request.
    KvChoice currentChoice() const;
    // Bytes the KV cache of `preset` uses for nTokens tokens (windows and sinks included).
    double estimateBytes(const QString& preset, qint64 nTokens) const;
    // How many tokens fit `bytes` under `preset`.
    qint64 tokensThatFit(const QString& preset, double bytes) const;

    Q_INVOKABLE void setCustomBits(int layer, int kBits, int vBits);
    Q_INVOKABLE void copyToCustom(const QString& fromPreset);  // start the editor from a preset
    Q_INVOKABLE void dismissApplyNote();

    void setModel(const ModelInfo& info);
    void clearModel();
    void onMemoryChanged(const KvMemoryInfo& info);
    void resetHistory();
    void setContextLength(qint64 tokens) { m_contextLength = tokens; emit memoryChanged(); }
    void setStoredProfile(const StoredProfileInfo& profile);

signals:
    void presetChanged();
    void presetsChanged();
    void layersChanged();
    void memoryChanged();
    void profilingChanged();
    void profilingFinished(const ProfilingOutcome& outcome);
    void qualityChanged();
    void qualityFinished(const QualityOutcome& outcome);

private:
    kvmix::KvProfile profileFor(const QString& preset, bool* fromProfile = nullptr) const;
    bool postProfiling(ProfilingRequest req);

    InferenceThread* m_inference;
    int m_profilingId = 0;
    double m_profilingProgress = 0;
    QString m_profilingText;
    int m_checkId = 0;
    double m_checkProgress = 0;
    QString m_checkText;
    QVariantMap m_checkResult;
    int m_checkMaxTokens = 1024;
    int m_checkChunk = 128;
    ModelInfo m_model;
    QString m_preset = QStringLiteral("balanced");
    QVector<int> m_customBits;  // 2 per layer
    double m_budgetMiB = 256;
    KvMemoryInfo m_last;
    qint64 m_contextLength = 0;
    QVariantList m_history;
    QString m_applyNote;
};
