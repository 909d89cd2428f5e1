// ChatController: the chat logic behind the QML views — conversations (create, select,
// rename, delete with undo, search), the active branch's messages, and send / stop /
// regenerate / edit / sibling flips driven through the InferenceWorker.
//
// Durability: the user's message is committed before a request is posted; the streaming
// answer is checkpointed at least every kCheckpointMs and finalized when the worker
// finishes (state complete, stopped or error, with its stats).
// Threads: GUI thread only; talks to the worker through InferenceThread::post() and
// receives its signals queued. One answer streams at a time.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QVariantMap>
#include <functional>

#include "core/conversation-store.h"
#include "core/inference-types.h"
#include "core/list-models.h"

class InferenceThread;

class ChatController : public QObject {
    Q_OBJECT
    Q_PROPERTY(ConversationListModel* conversations READ conversations CONSTANT)
    Q_PROPERTY(MessageListModel* messages READ messages CONSTANT)
    Q_PROPERTY(qint64 currentConversationId READ currentConversationId NOTIFY currentConversationChanged)
    Q_PROPERTY(QString currentTitle READ currentTitle NOTIFY currentConversationChanged)
    Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY systemPromptChanged)
    Q_PROPERTY(QVariantMap sampling READ sampling WRITE setSampling NOTIFY samplingChanged)
    Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
    Q_PROPERTY(QString contextBanner READ contextBanner NOTIFY contextBannerChanged)
    Q_PROPERTY(QString lastError READ lastError NOTIFY lastErrorChanged)
    Q_PROPERTY(QString searchQuery READ searchQuery WRITE setSearchQuery NOTIFY searchQueryChanged)
    Q_PROPERTY(bool canUndoDelete READ canUndoDelete NOTIFY canUndoDeleteChanged)
    Q_PROPERTY(QString statusText READ statusText NOTIFY statusTextChanged)
public:
    static constexpr int kCheckpointMs = 1000;

    ChatController(ConversationStore* store, InferenceThread* inference, QObject* parent = nullptr);

    // Where requests get their KV cache choice and the model path stored with a conversation.
    void setKvChoiceProvider(std::function<KvChoice()> provider) { m_kvChoice = std::move(provider); }
    void setModelPathProvider(std::function<QString()> provider) { m_modelPath = std::move(provider); }
    // Tests shorten it to see every checkpoint.
    void setCheckpointIntervalMs(int ms) { m_checkpointMs = ms; }

    ConversationListModel* conversations() { return &m_conversations; }
    MessageListModel* messages() { return &m_messages; }
    qint64 currentConversationId() const { return m_currentId; }
    QString currentTitle() const { return m_currentTitle; }
    QString systemPrompt() const { return m_systemPrompt; }
    void setSystemPrompt(const QString& prompt);
    QVariantMap sampling() const;
    void setSampling(const QVariantMap& values);
    SamplingSettings samplingSettings() const { return m_sampling; }
    bool busy() const { return m_active.requestId != 0; }
    QString contextBanner() const { return m_contextBanner; }
    QString lastError() const { return m_lastError; }
    QString searchQuery() const { return m_searchQuery; }
    void setSearchQuery(const QString& query);
    bool canUndoDelete() const { return m_lastDeleted != 0; }
    QString statusText() const { return m_statusText; }

    Q_INVOKABLE void refreshConversations();
    Q_INVOKABLE void newConversation();  // an empty chat; stored with its first message
    Q_INVOKABLE void selectConversation(qint64 conversationId);
    Q_INVOKABLE bool renameConversation(qint64 conversationId, const QString& title);
    Q_INVOKABLE bool deleteConversation(qint64 conversationId);
    Q_INVOKABLE bool undoDelete();

    // Each returns false (with lastError) when refused: busy, no conversation, store error.
    Q_INVOKABLE bool send(const QString& text);
    Q_INVOKABLE void stop();
    Q_INVOKABLE bool regenerate();  // the last answer of the active branch
    Q_INVOKABLE bool regenerateMessage(qint64 assistantMessageId);
    // A new sibling with newText; for a user message the model answers it.
    Q_INVOKABLE bool editMessage(qint64 messageId, const QString& newText);
    Q_INVOKABLE bool flipSibling(qint64 messageId, int delta);
    Q_INVOKABLE qint64 lastUserMessageId() const;
    // Sample text for the KV quality check and profiling: the current conversation's
    // active branch, messages joined by blank lines (empty without a conversation), and
    // the same for every stored conversation (one text each, empty ones left out).
    Q_INVOKABLE QString conversationText() const;
    Q_INVOKABLE QStringList storedConversationTexts() const;
    Q_INVOKABLE void dismissBanner();
    Q_INVOKABLE void clearError();

    // Export / import; url or local path. Format "markdown" or "json".
    Q_INVOKABLE bool exportConversation(qint64 conversationId, const QString& target, const QString& format);
    Q_INVOKABLE bool importConversation(const QString& source);

    // A finished summary as a new conversation: the request and the summary as its answer.
    qint64 createSummaryConversation(const QString& title, const QString& request, const QString& summary,
                                     const QJsonObject& stats);

signals:
    void currentConversationChanged();
    void systemPromptChanged();
    void samplingChanged();
    void busyChanged();
    void contextBannerChanged();
    void lastErrorChanged();
    void searchQueryChanged();
    void canUndoDeleteChanged();
    void statusTextChanged();
    void generationFinished(const GenerationOutcome& outcome);  // after the store was updated

private:
    void onTokens(int requestId, qint64 conversationId, const QString& text);
    void onFinished(const GenerationOutcome& outcome);
    bool startAnswer(qint64 parentMessageId);
    void reloadMessages();
    bool storeFailed(const QString& what);
    void setError(const QString& message);
    void setStatus(const QString& text);
    void setCurrent(qint64 conversationId);
    void saveSettings();

    ConversationStore* m_store;
    InferenceThread* m_inference;
    std::function<KvChoice()> m_kvChoice;
    std::function<QString()> m_modelPath;
    ConversationListModel m_conversations;
    MessageListModel m_messages;
    qint64 m_currentId = 0;
    QString m_currentTitle;
    QString m_systemPrompt;
    SamplingSettings m_sampling;
    QString m_contextBanner;
    QString m_lastError;
    QString m_searchQuery;
    QString m_statusText;
    qint64 m_lastDeleted = 0;
    int m_checkpointMs = kCheckpointMs;

    struct Active {
        int requestId = 0;
        qint64 conversationId = 0;
        qint64 messageId = 0;
        QString text;
        QElapsedTimer sinceCheckpoint;
    } m_active;
};
