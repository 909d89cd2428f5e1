#include "core/kv-controller.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QSettings>
#include <QUrl>
#include <algorithm>

#include "core/document-reader.h"
#include "core/inference-worker.h"
#include "core/profiler-hook.h"
#include "runtime/kvmix-kv-cache.h"

namespace {

double bitsPerElement(int bits, int groupSize) { return bits >= 16 ? 16.0 : bits + 32.0 / groupSize; }

}  // namespace

KvController::KvController(InferenceThread* inference, QObject* parent) : QObject(parent), m_inference(inference) {
    if (m_inference) {
        InferenceWorker* w = m_inference->worker();
        connect(w, &InferenceWorker::progress, this, [this](int id, const QString& stage, double fraction) {
            if (id != 0 && id == m_checkId) {
                m_checkText = stage;
                m_checkProgress = fraction;
                emit qualityChanged();
                return;
            }
            if (id == 0 || id != m_profilingId) return;
            m_profilingText = stage;
            m_profilingProgress = fraction;
            emit profilingChanged();
        });
        connect(w, &InferenceWorker::profilingFinished, this, [this](const ProfilingOutcome& o) {
            if (o.id != m_profilingId) return;
            m_profilingId = 0;
            if (o.reason == QLatin1String("complete")) {
                m_profilingProgress = 1;
                m_profilingText = tr("Profile stored: %1").arg(o.profile.calibration);
                setStoredProfile(o.profile);
            } else {
                m_profilingText = o.reason == QLatin1String("cancelled") ? tr("Profiling cancelled.") : tr("Profiling failed: %1").arg(o.error);
            }
            emit profilingChanged();
            emit profilingFinished(o);
        });
        connect(w, &InferenceWorker::qualityFinished, this, [this](const QualityOutcome& o) {
            if (o.id != m_checkId) return;
            m_checkId = 0;
            if (o.reason == QLatin1String("complete")) {
                const double delta = o.perplexity - o.fp16Perplexity;
                const double percent = o.fp16Perplexity > 0 ? 100.0 * delta / o.fp16Perplexity : 0.0;
                m_checkResult = QVariantMap{{QStringLiteral("preset"), o.kvName},
                                            {QStringLiteral("source"), o.sourceName},
                                            {QStringLiteral("tokens"), o.tokens},
                                            {QStringLiteral("scored"), o.scored},
                                            {QStringLiteral("chunk"), o.chunk},
                                            {QStringLiteral("fp16Perplexity"), o.fp16Perplexity},
                                            {QStringLiteral("perplexity"), o.perplexity},
                                            {QStringLiteral("delta"), delta},
                                            {QStringLiteral("deltaPercent"), percent},
                                            {QStringLiteral("meanKl"), o.meanKl},
                                            {QStringLiteral("seconds"), o.seconds}};
                m_checkProgress = 1;
                const QString sign = delta > 0 ? QStringLiteral("+") : QString();
                m_checkText = tr("%1 vs fp16 on %2 (%3 tokens scored): perplexity %4 vs %5, Δ %6 (%7%), mean KL %8 nats")
                                  .arg(o.kvName, o.sourceName)
                                  .arg(o.scored)
                                  .arg(o.perplexity, 0, 'f', 3)
                                  .arg(o.fp16Perplexity, 0, 'f', 3)
                                  .arg(sign + QString::number(delta, 'f', 3), sign + QString::number(percent, 'f', 2))
                                  .arg(o.meanKl, 0, 'g', 3);
            } else {
                m_checkText = o.reason == QLatin1String("cancelled") ? tr("Quality check cancelled.") : tr("Quality check failed: %1").arg(o.error);
            }
            emit qualityChanged();
            emit qualityFinished(o);
        });
    }
    QSettings settings;
    const QString p = settings.value(QStringLiteral("kv/preset"), m_preset).toString();
    if (presetKeys().contains(p)) m_preset = p;
    m_budgetMiB = std::clamp(settings.value(QStringLiteral("kv/budgetMiB"), m_budgetMiB).toDouble(), 1.0, 1048576.0);
}

QStringList KvController::presetKeys() {
    return {QStringLiteral("fp16"), QStringLiteral("high"), QStringLiteral("balanced"), QStringLiteral("compact"),
            QStringLiteral("custom")};
}

QPair<int, int> KvController::uniformFallback(const QString& preset) {
    if (preset == QLatin1String("high")) return {4, 4};
    if (preset == QLatin1String("balanced")) return {3, 2};
    if (preset == QLatin1String("compact")) return {2, 2};
    return {16, 16};
}

void KvController::setPreset(const QString& preset) {
    if (preset == m_preset || !presetKeys().contains(preset)) return;
    if (preset == QLatin1String("custom") && m_customBits.isEmpty() && hasModel()) copyToCustom(m_preset);
    m_preset = preset;
    QSettings().setValue(QStringLiteral("kv/preset"), m_preset);
    m_applyNote = m_last.tokens > 0
                      ? tr("Applies from your next message: the conversation is re-read (re-prefilled) with the new precision.")
                      : QString();
    emit presetChanged();
    emit layersChanged();
}

void KvController::setBudgetMiB(double mib) {
    mib = std::clamp(mib, 1.0, 1048576.0);
    if (mib == m_budgetMiB) return;
    m_budgetMiB = mib;
    QSettings().setValue(QStringLiteral("kv/budgetMiB"), m_budgetMiB);
    emit presetsChanged();
    emit memoryChanged();
}

kvmix::KvProfile KvController::profileFor(const QString& preset, bool* fromProfile) const {
    const auto n = static_cast<uint32_t>(std::max(0, m_model.nLayer));
    if (fromProfile) *fromProfile = false;
    KvChoice c;
    c.name = preset;
    if (preset == QLatin1String("custom"))
        c.layerBits = m_customBits;
    else if (m_model.profile.presets.contains(preset))
        c.layerBits = m_model.profile.presets.value(preset);
    if (c.layerBits.size() == static_cast<qsizetype>(2 * n)) {
        kvmix::KvProfile p;
        QString err;
        if (kvProfileFromChoice(c, n, &p, &err)) {
            if (fromProfile) *fromProfile = preset != QLatin1String("custom");
            return p;
        }
    }
    const auto [k, v] = uniformFallback(preset);
    kvmix::KvProfile p = kvmix::uniform_kv_profile(n, k, v);
    applyPresetStorage(preset, p);
    return p;
}

KvChoice KvController::currentChoice() const {
    KvChoice c;
    c.name = m_preset;
    if (!hasModel()) return c;
    bool fromProfile = false;
    const kvmix::KvProfile p = profileFor(m_preset, &fromProfile);
    if (fromProfile || m_preset == QLatin1String("custom")) {
        for (const auto& l : p.layers) c.layerBits << l.k_bits << l.v_bits;
        return c;
    }
    c.spec = QString::fromStdString(p.name);  // "fp16" or "kXvY"
    return c;
}

double KvController::estimateBytes(const QString& preset, qint64 nTokens) const {
    if (!hasModel() || nTokens <= 0) return 0;
    const kvmix::KvProfile p = profileFor(preset);
    double total = 0;
    for (int i = 0; i < m_model.layers.size() && i < static_cast<int>(p.layers.size()); ++i) {
        const LayerShapeInfo& s = m_model.layers[i];
        const auto& l = p.layers[static_cast<size_t>(i)];
        const double kElems = static_cast<double>(s.nHeadKv * s.headDim);
        const double vElems = static_cast<double>(s.nHeadKv * s.headDimV);
        // As the cache does it: sinks stay fp16; whole groups are quantized while the fp16
        // tail is longer than window + G; quantized storage grows in pages of kKvGroupsPerPage groups.
        // Values are quantized in channel groups of G: a head size that is not a multiple
        // of G keeps the layer's values in fp16 (as the cache does).
        const bool vQuantizable = s.headDimV % p.group_size == 0;
        auto part = [&](int bits, int64_t window, double elems) {
            if (bits >= 16) return static_cast<double>(nTokens) * elems * 2.0;
            const int64_t g = p.group_size;
            const int64_t sinks = std::min<int64_t>(nTokens, p.sinks);
            const int64_t excess = nTokens - sinks - window - g;
            const int64_t quantized = excess > 0 ? (excess + g - 1) / g * g : 0;
            const int64_t page = kvmix::kKvGroupsPerPage * g;
            const int64_t stored = (quantized + page - 1) / page * page;
            const double full = static_cast<double>(nTokens - quantized);
            return full * elems * 2.0 + static_cast<double>(stored) * elems * bitsPerElement(bits, p.group_size) / 8.0;
        };
        total += part(l.k_bits, p.k_window(static_cast<uint32_t>(i), nTokens), kElems) +
                 part(vQuantizable ? l.v_bits : 16, p.v_window(static_cast<uint32_t>(i), nTokens), vElems);
    }
    return total;
}

qint64 KvController::tokensThatFit(const QString& preset, double bytes) const {
    if (!hasModel() || bytes <= 0) return 0;
    qint64 lo = 0;
    qint64 hi = qint64(1) << 26;
    while (lo < hi) {
        const qint64 mid = (lo + hi + 1) / 2;
        if (estimateBytes(preset, mid) <= bytes)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

QVariantList KvController::presets() const {
    QVariantList out;
    const QHash<QString, QString> labels{{QStringLiteral("fp16"), tr("fp16 (no compression)")},
                                         {QStringLiteral("high"), tr("High quality")},
                                         {QStringLiteral("balanced"), tr("Balanced")},
                                         {QStringLiteral("compact"), tr("Compact")},
                                         {QStringLiteral("custom"), tr("Custom")}};
    const qint64 ref = m_contextLength > 0 ? m_contextLength : 4096;
    const double budget = m_budgetMiB * 1024.0 * 1024.0;
    for (const QString& key : presetKeys()) {
        bool fromProfile = false;
        const kvmix::KvProfile p = hasModel() ? profileFor(key, &fromProfile) : kvmix::KvProfile{};
        QVariantMap m;
        m[QStringLiteral("key")] = key;
        m[QStringLiteral("label")] = labels.value(key);
        m[QStringLiteral("bytesPerToken")] = hasModel() ? estimateBytes(key, ref) / static_cast<double>(ref) : 0.0;
        m[QStringLiteral("tokensFit")] = tokensThatFit(key, budget);
        m[QStringLiteral("profiled")] = fromProfile;
        m[QStringLiteral("avgKBits")] = hasModel() ? p.avg_k_bits() : 16.0;
        m[QStringLiteral("avgVBits")] = hasModel() ? p.avg_v_bits() : 16.0;
        m[QStringLiteral("groupSize")] = p.group_size;
        m[QStringLiteral("rotation")] = hasModel() ? QString::fromStdString(kvmix::rotation_name(p)) : QStringLiteral("none");
        out.push_back(m);
    }
    return out;
}

bool KvController::profiled() const { return hasModel() && m_model.profile.presets.contains(m_preset); }

bool KvController::canProfile() const { return m_inference != nullptr && profilerAvailable(); }

QString KvController::presetNote() const {
    if (m_preset == QLatin1String("fp16")) return tr("Every layer keeps 16-bit keys and values (the baseline).");
    if (m_preset == QLatin1String("custom")) return tr("Your own bits per layer.");
    if (!hasModel()) return tr("Load a model to see the bits this preset gives each layer.");
    if (profiled()) return tr("Per-layer bits from this model's importance profile (%1).").arg(m_model.profile.calibration);
    const auto [k, v] = uniformFallback(m_preset);
    return tr("Not profiled yet — run profiling. Meanwhile every layer uses K%1 V%2.").arg(k).arg(v);
}

QVariantList KvController::layers() const {
    QVariantList out;
    if (!hasModel()) return out;
    const kvmix::KvProfile p = profileFor(m_preset);
    const StoredProfileInfo& stored = m_model.profile;
    const qint64 ctx = m_last.tokens > 0 ? m_last.tokens : (m_contextLength > 0 ? m_contextLength : 4096);
    for (int i = 0; i < static_cast<int>(p.layers.size()) && i < m_model.layers.size(); ++i) {
        const auto& l = p.layers[static_cast<size_t>(i)];
        const LayerShapeInfo& s = m_model.layers[i];
        QVariantMap m;
        m[QStringLiteral("layer")] = i;
        m[QStringLiteral("kBits")] = l.k_bits;
        m[QStringLiteral("vBits")] = l.v_bits;
        m[QStringLiteral("kWindow")] = static_cast<qint64>(l.k_bits >= 16 ? ctx : p.k_window(static_cast<uint32_t>(i), ctx));
        m[QStringLiteral("vWindow")] = static_cast<qint64>(l.v_bits >= 16 ? ctx : p.v_window(static_cast<uint32_t>(i), ctx));
        m[QStringLiteral("kImportance")] = i < stored.kScores.size() ? stored.kScores[i] : -1.0;
        m[QStringLiteral("vImportance")] = i < stored.vScores.size() ? stored.vScores[i] : -1.0;
        m[QStringLiteral("bytesPerToken")] =
            static_cast<double>(s.nHeadKv) * (static_cast<double>(s.headDim) * bitsPerElement(l.k_bits, p.group_size) +
                                              static_cast<double>(s.headDimV) * bitsPerElement(l.v_bits, p.group_size)) / 8.0;
        m[QStringLiteral("sliding")] = false;
        out.push_back(m);
    }
    return out;
}

void KvController::setCustomBits(int layer, int kBits, int vBits) {
    static const QList<int> kAllowed{2, 3, 4, 8, 16};
    if (!hasModel() || layer < 0 || layer >= m_model.nLayer || !kAllowed.contains(kBits) || !kAllowed.contains(vBits)) return;
    if (m_customBits.size() != 2 * m_model.nLayer) copyToCustom(m_preset == QLatin1String("custom") ? QStringLiteral("balanced") : m_preset);
    m_customBits[2 * layer] = kBits;
    m_customBits[2 * layer + 1] = vBits;
    QStringList text;
    for (int b : m_customBits) text << QString::number(b);
    QSettings().setValue(QStringLiteral("kv/custom/") + QFileInfo(m_model.path).fileName(), text.join(QLatin1Char(',')));
    if (m_preset != QLatin1String("custom")) {
        m_preset = QStringLiteral("custom");
        QSettings().setValue(QStringLiteral("kv/preset"), m_preset);
        emit presetChanged();
    }
    emit layersChanged();
    emit presetsChanged();
}

void KvController::copyToCustom(const QString& fromPreset) {
    if (!hasModel()) return;
    const QString from = fromPreset == QLatin1String("custom") ? QStringLiteral("balanced") : fromPreset;
    const kvmix::KvProfile p = profileFor(from);
    m_customBits.clear();
    for (const auto& l : p.layers) m_customBits << l.k_bits << l.v_bits;
    emit layersChanged();
    emit presetsChanged();
}

void KvController::setStoredProfile(const StoredProfileInfo& profile) {
    m_model.profile = profile;
    emit presetsChanged();
    emit layersChanged();
}

bool KvController::startProfiling(int sequences, int sequenceLength) {
    ProfilingRequest req;
    req.sequences = std::clamp(sequences, 1, 256);
    req.sequenceLength = sequenceLength;
    return postProfiling(std::move(req));
}

bool KvController::startProfilingFromFiles(const QVariantList& files, int sequenceLength) {
    if (!canProfile() || !hasModel() || profiling()) return false;
    ProfilingRequest req;
    req.sequences = 0;
    req.sequenceLength = sequenceLength;
    req.textSource = QStringLiteral("text");
    for (const QVariant& f : files) {
        const QUrl url = f.typeId() == QMetaType::QUrl ? f.toUrl() : QUrl(f.toString());
        const QString path = url.isLocalFile() ? url.toLocalFile() : f.toString();
        QString text;
        QString err;
        if (!readDocumentText(path, &text, &err)) {
            m_profilingText = err;
            emit profilingChanged();
            return false;
        }
        if (text.trimmed().isEmpty()) continue;
        req.texts << text;
        req.fileNames << QFileInfo(path).fileName();
    }
    if (req.texts.isEmpty()) {
        m_profilingText = tr("Choose at least one text file with some text in it.");
        emit profilingChanged();
        return false;
    }
    return postProfiling(std::move(req));
}

bool KvController::startProfilingFromConversations(const QStringList& texts, int sequenceLength) {
    if (!canProfile() || !hasModel() || profiling()) return false;
    ProfilingRequest req;
    req.sequences = 0;
    req.sequenceLength = sequenceLength;
    req.textSource = QStringLiteral("conversations");
    for (const QString& t : texts)
        if (!t.trimmed().isEmpty()) req.texts << t;
    if (req.texts.isEmpty()) {
        m_profilingText = tr("There are no stored conversations to learn from yet.");
        emit profilingChanged();
        return false;
    }
    return postProfiling(std::move(req));
}

bool KvController::postProfiling(ProfilingRequest req) {
    if (!canProfile() || !hasModel() || profiling()) return false;
    req.id = m_inference->worker()->nextRequestId();
    req.sequenceLength = std::clamp(req.sequenceLength, 16, std::max(16, m_model.contextLength));
    m_profilingId = req.id;
    m_profilingProgress = 0;
    m_profilingText = tr("Starting the importance analysis…");
    emit profilingChanged();
    m_inference->post([req](InferenceWorker* w) { w->profile(req); });
    return true;
}

bool KvController::startQualityCheck(const QString& text, const QString& sourceName) {
    if (!m_inference || !hasModel() || checking()) return false;
    if (text.trimmed().isEmpty()) {
        m_checkText = tr("There is no text to measure on: start a conversation or choose a file.");
        emit qualityChanged();
        return false;
    }
    QualityRequest req;
    req.id = m_inference->worker()->nextRequestId();
    req.text = text;
    req.sourceName = sourceName;
    req.kv = currentChoice();
    req.maxTokens = m_checkMaxTokens;
    req.chunk = m_checkChunk;
    m_checkId = req.id;
    m_checkProgress = 0;
    m_checkText = tr("Measuring %1 against fp16…").arg(m_preset);
    emit qualityChanged();
    m_inference->post([req](InferenceWorker* w) { w->checkQuality(req); });
    return true;
}

bool KvController::startQualityCheckFile(const QString& pathOrUrl) {
    const QUrl url(pathOrUrl);
    const QString path = url.isLocalFile() ? url.toLocalFile() : pathOrUrl;
    QString text;
    QString err;
    if (!readDocumentText(path, &text, &err)) {
        m_checkText = err;
        emit qualityChanged();
        return false;
    }
    return startQualityCheck(text, QFileInfo(path).fileName());
}

void KvController::cancelQualityCheck() {
    if (checking()) m_inference->worker()->stop(m_checkId);
}

void KvController::cancelProfiling() {
    if (profiling()) m_inference->worker()->stop(m_profilingId);
}

void KvController::dismissApplyNote() {
    if (m_applyNote.isEmpty()) return;
    m_applyNote.clear();
    emit presetChanged();
}

void KvController::setModel(const ModelInfo& info) {
    m_model = info;
    QVector<int> bits;
    const QString saved = QSettings().value(QStringLiteral("kv/custom/") + QFileInfo(info.path).fileName()).toString();
    for (const QString& b : saved.split(QLatin1Char(','), Qt::SkipEmptyParts)) bits << b.toInt();
    m_customBits = bits.size() == 2 * info.nLayer ? bits : QVector<int>{};
    if (m_customBits.isEmpty()) copyToCustom(QStringLiteral("balanced"));
    resetHistory();
    emit presetsChanged();
    emit layersChanged();
}

void KvController::clearModel() {
    m_model = ModelInfo{};
    m_customBits.clear();
    resetHistory();
    emit presetsChanged();
    emit layersChanged();
}

void KvController::resetHistory() {
    m_history.clear();
    m_last = KvMemoryInfo{};
    emit memoryChanged();
}

void KvController::onMemoryChanged(const KvMemoryInfo& info) {
    if (info.conversationId != m_last.conversationId || info.tokens < m_last.tokens) m_history.clear();
    const bool grew = m_history.isEmpty() || info.tokens != m_last.tokens;
    m_last = info;
    if (grew) {
        m_history.push_back(QVariantMap{{QStringLiteral("tokens"), info.tokens},
                                        {QStringLiteral("bytes"), static_cast<double>(info.bytes)},
                                        {QStringLiteral("fp16Bytes"), static_cast<double>(info.fp16Bytes)}});
        if (m_history.size() > 512) m_history.removeFirst();
    }
    emit memoryChanged();
    emit layersChanged();
}

QVariantMap KvController::memory() const {
    QVariantMap m;
    const double budget = m_budgetMiB * 1024.0 * 1024.0;
    m[QStringLiteral("weightsBytes")] = static_cast<double>(m_model.weightBytes);
    m[QStringLiteral("kvBytes")] = static_cast<double>(m_last.bytes);
    m[QStringLiteral("kvFp16Bytes")] = static_cast<double>(m_last.fp16Bytes);
    m[QStringLiteral("ratio")] = m_last.bytes > 0 ? static_cast<double>(m_last.fp16Bytes) / static_cast<double>(m_last.bytes) : 1.0;
    m[QStringLiteral("tokens")] = m_last.tokens;
    m[QStringLiteral("capacity")] = m_last.capacity;
    m[QStringLiteral("contextLeft")] = std::max<qint64>(0, m_last.capacity - m_last.tokens);
    m[QStringLiteral("budgetLeft")] = std::max<qint64>(0, tokensThatFit(m_preset, budget) - m_last.tokens);
    m[QStringLiteral("budgetBytes")] = budget;
    return m;
}
