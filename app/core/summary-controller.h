// SummaryController: long-document summarization. Opens a document, asks the worker for
// a one-pass summary when it fits the context under the current KV preset, otherwise a
// map-reduce over chunks (with progress and cancel), and stores the result as a new
// conversation the user can continue. GUI thread only.
#pragma once

#include <QObject>

#include "core/inference-types.h"

class ChatController;
class InferenceThread;
class KvController;

class SummaryController : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString documentName READ documentName NOTIFY documentChanged)
    Q_PROPERTY(QString documentPreview READ documentPreview NOTIFY documentChanged)
    Q_PROPERTY(int documentChars READ documentChars NOTIFY documentChanged)
    Q_PROPERTY(bool pdfSupported READ pdfSupported CONSTANT)
    Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
    Q_PROPERTY(double progress READ progress NOTIFY progressChanged)
    Q_PROPERTY(QString progressText READ progressText NOTIFY progressChanged)
    Q_PROPERTY(QString summary READ summary NOTIFY summaryChanged)
    Q_PROPERTY(QString resultInfo READ resultInfo NOTIFY summaryChanged)
    Q_PROPERTY(QString error READ error NOTIFY errorChanged)
public:
    SummaryController(InferenceThread* inference, ChatController* chat, KvController* kv, QObject* parent = nullptr);

    QString documentName() const { return m_name; }
    QString documentPreview() const { return m_text.left(4000); }
    int documentChars() const { return static_cast<int>(m_text.size()); }
    bool pdfSupported() const;
    bool busy() const { return m_requestId != 0; }
    double progress() const { return m_progress; }
    QString progressText() const { return m_progressText; }
    QString summary() const { return m_summary; }
    QString resultInfo() const { return m_resultInfo; }
    QString error() const { return m_error; }
    qint64 lastConversationId() const { return m_lastConversation; }

    Q_INVOKABLE bool openDocument(const QString& pathOrUrl);
    void setDocument(const QString& name, const QString& text);
    Q_INVOKABLE bool summarize();
    Q_INVOKABLE void cancel();

signals:
    void documentChanged();
    void busyChanged();
    void progressChanged();
    void summaryChanged();
    void errorChanged();
    void finished(const SummaryOutcome& outcome);

private:
    void onFinished(const SummaryOutcome& outcome);
    void setError(const QString& e);

    InferenceThread* m_inference;
    ChatController* m_chat;
    KvController* m_kv;
    QString m_name;
    QString m_text;
    int m_requestId = 0;
    double m_progress = 0;
    QString m_progressText;
    QString m_summary;
    QString m_resultInfo;
    QString m_error;
    qint64 m_lastConversation = 0;
};
