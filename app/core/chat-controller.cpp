#include "core/chat-controller.h"

#include <QFile>
#include <QJsonDocument>
#include <QSettings>
#include <QUrl>

#include "core/inference-worker.h"

namespace {

QString localPath(const QString& target) {
    const QUrl url(target);
    return url.isLocalFile() ? url.toLocalFile() : target;
}

QString titleFrom(const QString& text) {
    QString t = text.simplified();
    if (t.size() > 48) t = t.left(47) + QChar(0x2026);
    return t.isEmpty() ? QObject::tr("New chat") : t;
}

}  // namespace

ChatController::ChatController(ConversationStore* store, InferenceThread* inference, QObject* parent)
    : QObject(parent), m_store(store), m_inference(inference) {
    QSettings settings;
    m_sampling = SamplingSettings::fromJson(
        QJsonDocument::fromJson(settings.value(QStringLiteral("chat/sampling")).toByteArray()).object());
    m_systemPrompt = settings.value(QStringLiteral("chat/systemPrompt")).toString();
    InferenceWorker* w = m_inference->worker();
    connect(w, &InferenceWorker::tokensGenerated, this, &ChatController::onTokens);
    connect(w, &InferenceWorker::finished, this, &ChatController::onFinished);
    refreshConversations();
}

bool ChatController::storeFailed(const QString& what) {
    QString msg;
    switch (m_store->lastErrorKind()) {
        case ConversationStore::ErrorKind::Locked:
            msg = tr("%1: the chat database is locked by another program. Close other KVmix Chat windows and try again.").arg(what);
            break;
        case ConversationStore::ErrorKind::ReadOnly:
            msg = tr("%1: the chat database is read-only, so nothing can be saved. Check the permissions of %2.")
                      .arg(what, m_store->path());
            break;
        case ConversationStore::ErrorKind::NotOpen:
            msg = tr("%1: the chat database is not open.").arg(what);
            break;
        default:
            msg = tr("%1: %2").arg(what, m_store->lastError());
    }
    setError(msg);
    return false;
}

void ChatController::setError(const QString& message) {
    if (m_lastError == message) return;
    m_lastError = message;
    emit lastErrorChanged();
}

void ChatController::clearError() { setError({}); }

void ChatController::setStatus(const QString& text) {
    if (m_statusText == text) return;
    m_statusText = text;
    emit statusTextChanged();
}

void ChatController::saveSettings() {
    QSettings settings;
    settings.setValue(QStringLiteral("chat/sampling"), QJsonDocument(m_sampling.toJson()).toJson(QJsonDocument::Compact));
    settings.setValue(QStringLiteral("chat/systemPrompt"), m_systemPrompt);
    if (m_currentId == 0) return;
    ConversationStore::Conversation c;
    if (!m_store->conversation(m_currentId, &c)) return;
    if (!m_store->setConversationSettings(m_currentId, m_systemPrompt, c.modelPath, c.preset, m_sampling.toJson()))
        storeFailed(tr("Saving the chat settings"));
}

void ChatController::setSystemPrompt(const QString& prompt) {
    if (m_systemPrompt == prompt) return;
    m_systemPrompt = prompt;
    saveSettings();
    emit systemPromptChanged();
}

QVariantMap ChatController::sampling() const { return m_sampling.toJson().toVariantMap(); }

void ChatController::setSampling(const QVariantMap& values) {
    QJsonObject merged = m_sampling.toJson();
    for (auto it = values.begin(); it != values.end(); ++it) merged.insert(it.key(), QJsonValue::fromVariant(it.value()));
    const SamplingSettings s = SamplingSettings::fromJson(merged);
    if (s == m_sampling) return;
    m_sampling = s;
    saveSettings();
    emit samplingChanged();
}

void ChatController::setSearchQuery(const QString& query) {
    if (m_searchQuery == query) return;
    m_searchQuery = query;
    emit searchQueryChanged();
    refreshConversations();
}

void ChatController::refreshConversations() {
    QList<ConversationListModel::Row> rows;
    if (m_searchQuery.trimmed().isEmpty()) {
        for (const auto& c : m_store->listConversations()) rows.push_back({c.id, c.title, c.updatedAt, c.pinned, {}});
    } else {
        for (const auto& h : m_store->search(m_searchQuery)) {
            ConversationStore::Conversation c;
            if (!m_store->conversation(h.conversationId, &c)) continue;
            rows.push_back({c.id, c.title, c.updatedAt, c.pinned, h.snippet});
        }
    }
    if (!m_store->lastError().isEmpty() && rows.isEmpty() && m_store->lastErrorKind() != ConversationStore::ErrorKind::None &&
        m_store->lastErrorKind() != ConversationStore::ErrorKind::InvalidArgument)
        storeFailed(tr("Reading the conversations"));
    m_conversations.setRows(std::move(rows));
}

void ChatController::setCurrent(qint64 conversationId) {
    m_currentId = conversationId;
    m_currentTitle.clear();
    if (conversationId != 0) {
        ConversationStore::Conversation c;
        if (m_store->conversation(conversationId, &c)) {
            m_currentTitle = c.title;
            if (m_systemPrompt != c.systemPrompt) {
                m_systemPrompt = c.systemPrompt;
                emit systemPromptChanged();
            }
            if (!c.sampling.isEmpty()) {
                const SamplingSettings s = SamplingSettings::fromJson(c.sampling);
                if (!(s == m_sampling)) {
                    m_sampling = s;
                    emit samplingChanged();
                }
            }
        }
    }
    reloadMessages();
    emit currentConversationChanged();
}

void ChatController::newConversation() {
    if (m_contextBanner.size()) dismissBanner();
    setCurrent(0);
}

void ChatController::selectConversation(qint64 conversationId) {
    if (conversationId == m_currentId) return;
    if (m_contextBanner.size()) dismissBanner();
    setCurrent(conversationId);
}

bool ChatController::renameConversation(qint64 conversationId, const QString& title) {
    const QString t = title.simplified();
    if (t.isEmpty()) return false;
    if (!m_store->renameConversation(conversationId, t)) return storeFailed(tr("Renaming the chat"));
    if (conversationId == m_currentId) {
        m_currentTitle = t;
        emit currentConversationChanged();
    }
    refreshConversations();
    return true;
}

bool ChatController::deleteConversation(qint64 conversationId) {
    if (busy() && m_active.conversationId == conversationId) stop();
    if (!m_store->deleteConversation(conversationId)) return storeFailed(tr("Deleting the chat"));
    m_lastDeleted = conversationId;
    emit canUndoDeleteChanged();
    m_inference->post([conversationId](InferenceWorker* w) { w->releaseSession(conversationId); });
    if (conversationId == m_currentId) setCurrent(0);
    refreshConversations();
    return true;
}

bool ChatController::undoDelete() {
    if (m_lastDeleted == 0) return false;
    const qint64 id = m_lastDeleted;
    if (!m_store->restoreConversation(id)) return storeFailed(tr("Restoring the chat"));
    m_lastDeleted = 0;
    emit canUndoDeleteChanged();
    refreshConversations();
    setCurrent(id);
    return true;
}

void ChatController::reloadMessages() {
    QList<MessageListModel::Row> rows;
    if (m_currentId != 0) {
        for (const auto& m : m_store->activePath(m_currentId)) {
            MessageListModel::Row r;
            r.message = m;
            const auto sibs = m_store->siblings(m.id);
            r.siblingCount = std::max(1, static_cast<int>(sibs.size()));
            for (int i = 0; i < sibs.size(); ++i)
                if (sibs[i].id == m.id) r.siblingIndex = i;
            // The streaming answer's newest text lives here, not yet in the store.
            if (m.id == m_active.messageId) r.message.content = m_active.text;
            rows.push_back(r);
        }
    }
    m_messages.setRows(std::move(rows));
}

qint64 ChatController::lastUserMessageId() const {
    const auto& rows = m_messages.rows();
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
        if (it->message.role == ConversationStore::Role::User) return it->message.id;
    return 0;
}

namespace {

QString joinedText(const QList<ConversationStore::Message>& messages) {
    QStringList parts;
    for (const auto& m : messages)
        if (!m.content.trimmed().isEmpty()) parts << m.content;
    return parts.join(QStringLiteral("\n\n"));
}

}  // namespace

QString ChatController::conversationText() const {
    return m_currentId == 0 ? QString() : joinedText(m_store->activePath(m_currentId));
}

QStringList ChatController::storedConversationTexts() const {
    QStringList out;
    for (const auto& c : m_store->listConversations()) {
        const QString text = joinedText(m_store->activePath(c.id));
        if (!text.isEmpty()) out << text;
    }
    return out;
}

bool ChatController::send(const QString& text) {
    const QString content = text.trimmed();
    if (content.isEmpty()) return false;
    if (busy()) {
        setError(tr("Wait for the current answer or stop it first."));
        return false;
    }
    clearError();
    if (m_currentId == 0) {
        const KvChoice kv = m_kvChoice ? m_kvChoice() : KvChoice{};
        const qint64 id = m_store->createConversation(titleFrom(content), m_systemPrompt, m_modelPath ? m_modelPath() : QString(),
                                                      kv.name, m_sampling.toJson());
        if (id == 0) return storeFailed(tr("Creating the chat"));
        m_currentId = id;
        m_currentTitle = titleFrom(content);
        emit currentConversationChanged();
    }
    const auto& rows = m_messages.rows();
    const qint64 parent = rows.isEmpty() ? 0 : rows.last().message.id;
    // Committed before the worker sees it: a crash during generation never loses it.
    const qint64 userId = m_store->addMessage(m_currentId, parent, ConversationStore::Role::User, content);
    if (userId == 0) return storeFailed(tr("Saving your message"));
    refreshConversations();
    return startAnswer(userId);
}

bool ChatController::startAnswer(qint64 parentMessageId) {
    ConversationStore::Message parent;
    if (!m_store->message(parentMessageId, &parent)) return storeFailed(tr("Reading the conversation"));
    const qint64 answerId = m_store->beginAssistantMessage(parentMessageId);
    if (answerId == 0) return storeFailed(tr("Starting the answer"));

    GenerationRequest req;
    req.conversationId = parent.conversationId;
    if (!m_systemPrompt.trimmed().isEmpty()) req.turns.push_back({QStringLiteral("system"), m_systemPrompt});
    for (const auto& m : m_store->activePath(parent.conversationId)) {
        if (m.id == answerId) break;
        if (m.role == ConversationStore::Role::Assistant && m.content.isEmpty()) continue;
        req.turns.push_back({ConversationStore::roleName(m.role), m.content});
    }
    req.sampling = m_sampling;
    req.kv = m_kvChoice ? m_kvChoice() : KvChoice{};
    req.id = m_inference->worker()->nextRequestId();

    m_active.requestId = req.id;
    m_active.conversationId = req.conversationId;
    m_active.messageId = answerId;
    m_active.text.clear();
    m_active.sinceCheckpoint.start();
    reloadMessages();
    setStatus(tr("Thinking…"));
    emit busyChanged();
    m_inference->post([req](InferenceWorker* w) { w->generate(req); });
    return true;
}

void ChatController::stop() {
    if (!busy()) return;
    m_inference->worker()->stop(m_active.requestId);
    setStatus(tr("Stopping…"));
}

bool ChatController::regenerate() {
    const auto& rows = m_messages.rows();
    if (rows.isEmpty()) return false;
    const auto& last = rows.last().message;
    if (last.role == ConversationStore::Role::Assistant) return regenerateMessage(last.id);
    if (busy()) return false;
    return startAnswer(last.id);  // a user message left without an answer
}

bool ChatController::regenerateMessage(qint64 assistantMessageId) {
    if (busy()) {
        setError(tr("Wait for the current answer or stop it first."));
        return false;
    }
    ConversationStore::Message m;
    if (!m_store->message(assistantMessageId, &m)) return storeFailed(tr("Regenerating"));
    if (m.role != ConversationStore::Role::Assistant || m.parentId == 0) return false;
    clearError();
    return startAnswer(m.parentId);  // a new sibling; the old answers stay
}

bool ChatController::editMessage(qint64 messageId, const QString& newText) {
    if (busy()) {
        setError(tr("Wait for the current answer or stop it first."));
        return false;
    }
    const QString content = newText.trimmed();
    if (content.isEmpty()) return false;
    ConversationStore::Message m;
    if (!m_store->message(messageId, &m)) return storeFailed(tr("Editing"));
    const qint64 id = m_store->editMessage(messageId, content);
    if (id == 0) return storeFailed(tr("Saving the edit"));
    clearError();
    if (m.role == ConversationStore::Role::User) return startAnswer(id);
    reloadMessages();
    return true;
}

bool ChatController::flipSibling(qint64 messageId, int delta) {
    if (busy()) return false;
    const auto sibs = m_store->siblings(messageId);
    int at = -1;
    for (int i = 0; i < sibs.size(); ++i)
        if (sibs[i].id == messageId) at = i;
    const int to = at + delta;
    if (at < 0 || to < 0 || to >= sibs.size()) return false;
    if (!m_store->setCurrentMessage(m_currentId, sibs[to].id)) return storeFailed(tr("Switching the branch"));
    reloadMessages();
    return true;
}

void ChatController::dismissBanner() {
    m_contextBanner.clear();
    emit contextBannerChanged();
}

void ChatController::onTokens(int requestId, qint64, const QString& text) {
    if (requestId != m_active.requestId) return;
    if (m_active.text.isEmpty()) setStatus(tr("Answering…"));
    m_active.text += text;
    if (m_active.conversationId == m_currentId) m_messages.setContent(m_active.messageId, m_active.text);
    if (m_active.sinceCheckpoint.elapsed() >= m_checkpointMs) {
        if (!m_store->checkpointAssistantMessage(m_active.messageId, m_active.text)) storeFailed(tr("Saving the answer"));
        m_active.sinceCheckpoint.restart();
    }
}

void ChatController::onFinished(const GenerationOutcome& outcome) {
    if (outcome.id != m_active.requestId) return;
    const QString text = outcome.text.isEmpty() ? m_active.text : outcome.text;
    ConversationStore::State state = ConversationStore::State::Complete;
    if (outcome.stopped()) state = ConversationStore::State::Stopped;
    if (outcome.failed()) state = ConversationStore::State::Error;
    const qint64 messageId = m_active.messageId;
    m_active = Active{};
    if (!m_store->finishAssistantMessage(messageId, text, state, static_cast<int>(outcome.generated), outcome.statsJson()))
        storeFailed(tr("Saving the answer"));
    if (outcome.failed()) setError(outcome.error);
    QStringList notes;
    if (outcome.truncated)
        notes << tr("The conversation no longer fits the context: %1 older tokens were left out (%2).")
                     .arg(outcome.tokensDropped)
                     .arg(outcome.contextNote);
    if (outcome.reason == QLatin1String("context_full")) notes << tr("The answer stopped because the context is full.");
    if (!notes.isEmpty()) {
        m_contextBanner = notes.join(QLatin1Char(' '));
        emit contextBannerChanged();
    }
    if (outcome.stopped())
        setStatus(tr("Stopped"));
    else if (outcome.failed())
        setStatus(tr("Failed"));
    else
        setStatus(tr("%1 tokens · %2 tok/s").arg(outcome.generated).arg(outcome.decodeTps, 0, 'f', 1));
    reloadMessages();
    refreshConversations();
    emit busyChanged();
    emit generationFinished(outcome);
}

bool ChatController::exportConversation(qint64 conversationId, const QString& target, const QString& format) {
    const bool json = format == QLatin1String("json");
    const QByteArray data = json ? m_store->exportJson(conversationId) : m_store->exportMarkdown(conversationId).toUtf8();
    if (data.isEmpty()) return storeFailed(tr("Exporting"));
    QFile f(localPath(target));
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(data) != data.size()) {
        setError(tr("Cannot write %1: %2").arg(f.fileName(), f.errorString()));
        return false;
    }
    return true;
}

bool ChatController::importConversation(const QString& source) {
    QFile f(localPath(source));
    if (!f.open(QIODevice::ReadOnly)) {
        setError(tr("Cannot read %1: %2").arg(f.fileName(), f.errorString()));
        return false;
    }
    const qint64 id = m_store->importJson(f.readAll());
    if (id == 0) return storeFailed(tr("Importing %1").arg(f.fileName()));
    refreshConversations();
    setCurrent(id);
    return true;
}

qint64 ChatController::createSummaryConversation(const QString& title, const QString& request, const QString& summary,
                                                 const QJsonObject& stats) {
    const KvChoice kv = m_kvChoice ? m_kvChoice() : KvChoice{};
    const qint64 id = m_store->createConversation(title, m_systemPrompt, m_modelPath ? m_modelPath() : QString(), kv.name,
                                                  m_sampling.toJson());
    if (id == 0) {
        storeFailed(tr("Saving the summary"));
        return 0;
    }
    const qint64 userId = m_store->addMessage(id, 0, ConversationStore::Role::User, request);
    const qint64 answerId = userId ? m_store->beginAssistantMessage(userId) : 0;
    if (answerId == 0 ||
        !m_store->finishAssistantMessage(answerId, summary, ConversationStore::State::Complete,
                                         stats.value(QStringLiteral("generated")).toInt(), stats)) {
        storeFailed(tr("Saving the summary"));
        return 0;
    }
    refreshConversations();
    setCurrent(id);
    return id;
}
