#include "core/summary-controller.h"

#include <QFileInfo>
#include <QLocale>
#include <QUrl>

#include "core/chat-controller.h"
#include "core/document-reader.h"
#include "core/inference-worker.h"
#include "core/kv-controller.h"

SummaryController::SummaryController(InferenceThread* inference, ChatController* chat, KvController* kv, QObject* parent)
    : QObject(parent), m_inference(inference), m_chat(chat), m_kv(kv) {
    InferenceWorker* w = m_inference->worker();
    connect(w, &InferenceWorker::progress, this, [this](int id, const QString& phase, double fraction) {
        if (id == 0 || id != m_requestId) return;
        m_progressText = phase;
        m_progress = fraction;
        emit progressChanged();
    });
    connect(w, &InferenceWorker::tokensGenerated, this, [this](int id, qint64, const QString& text) {
        if (id == 0 || id != m_requestId) return;
        m_summary += text;
        emit summaryChanged();
    });
    connect(w, &InferenceWorker::summaryFinished, this, &SummaryController::onFinished);
}

bool SummaryController::pdfSupported() const { return ::pdfSupported(); }

void SummaryController::setError(const QString& e) {
    m_error = e;
    emit errorChanged();
}

bool SummaryController::openDocument(const QString& pathOrUrl) {
    const QUrl url(pathOrUrl);
    const QString path = url.isLocalFile() ? url.toLocalFile() : pathOrUrl;
    QString text;
    QString err;
    if (!readDocumentText(path, &text, &err)) {
        setError(err);
        return false;
    }
    setDocument(QFileInfo(path).fileName(), text);
    return true;
}

void SummaryController::setDocument(const QString& name, const QString& text) {
    m_name = name;
    m_text = text;
    m_summary.clear();
    m_resultInfo.clear();
    setError({});
    emit documentChanged();
    emit summaryChanged();
}

bool SummaryController::summarize() {
    if (busy() || m_text.isEmpty()) return false;
    SummaryRequest req;
    req.id = m_inference->worker()->nextRequestId();
    req.documentName = m_name;
    req.text = m_text;
    req.sampling = m_chat ? m_chat->samplingSettings() : SamplingSettings{};
    req.sampling.temperature = std::min(req.sampling.temperature, 0.3);  // summaries: stay close to the text
    req.kv = m_kv ? m_kv->currentChoice() : KvChoice{};
    m_requestId = req.id;
    m_summary.clear();
    m_resultInfo.clear();
    m_progress = 0;
    m_progressText = tr("Starting…");
    setError({});
    emit busyChanged();
    emit progressChanged();
    emit summaryChanged();
    m_inference->post([req](InferenceWorker* w) { w->summarize(req); });
    return true;
}

void SummaryController::cancel() {
    if (busy()) m_inference->worker()->stop(m_requestId);
}

void SummaryController::onFinished(const SummaryOutcome& outcome) {
    if (outcome.id != m_requestId) return;
    m_requestId = 0;
    const QLocale locale;
    if (outcome.reason == QLatin1String("complete")) {
        m_summary = outcome.summary;
        const QString mode = outcome.chunks <= 1 ? tr("one pass")
                                                 : tr("map-reduce over %1 chunks in %2 rounds").arg(outcome.chunks).arg(outcome.passes);
        QString saving;
        if (outcome.kvFp16Bytes > 0 && outcome.kvBytes < outcome.kvFp16Bytes)
            saving = tr(" KVmix kept the cache at %1 instead of %2 (%3× smaller).")
                         .arg(locale.formattedDataSize(static_cast<qint64>(outcome.kvBytes)),
                              locale.formattedDataSize(static_cast<qint64>(outcome.kvFp16Bytes)))
                         .arg(static_cast<double>(outcome.kvFp16Bytes) / static_cast<double>(std::max<quint64>(1, outcome.kvBytes)), 0, 'f', 1);
        m_resultInfo = tr("%1 tokens, %2, preset %3, context %4 tokens.%5")
                           .arg(outcome.documentTokens)
                           .arg(mode, outcome.kvName)
                           .arg(outcome.contextLength)
                           .arg(saving);
        m_progress = 1;
        m_progressText = tr("Done");
        if (m_chat) {
            // The document itself goes into the chat only when it fits one pass, so follow-up
            // questions can see it; a long one is represented by its summary.
            const QString request = outcome.chunks <= 1
                                        ? tr("Summarize the document %1:\n\n%2").arg(m_name, m_text)
                                        : tr("Summarize the document %1 (%2 tokens, too long for one pass).").arg(m_name).arg(outcome.documentTokens);
            QJsonObject stats{{QStringLiteral("summary_info"), m_resultInfo}};
            m_lastConversation = m_chat->createSummaryConversation(tr("Summary: %1").arg(m_name), request, m_summary, stats);
        }
    } else if (outcome.reason == QLatin1String("cancelled")) {
        m_progressText = tr("Cancelled");
    } else {
        m_progressText = tr("Failed");
        setError(outcome.error);
    }
    emit busyChanged();
    emit progressChanged();
    emit summaryChanged();
    emit finished(outcome);
}
