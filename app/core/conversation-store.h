// ConversationStore: the chat history on SQLite (WAL, foreign keys, FTS5 search).
//
// Ownership and threads: a ConversationStore owns one SQLite connection. It is
// synchronous and must be used only from the thread that called open() — in the
// app that is the GUI thread (every call is a few small statements; a streaming
// checkpoint is one UPDATE). The InferenceWorker never touches it: the GUI thread
// checkpoints the text it receives through tokensGenerated.
//
// Errors: every call that can fail returns false / 0 / an empty value and leaves a
// readable message in lastError() plus a category in lastErrorKind(). Nothing throws
// and nothing is silently dropped: a failed write leaves the database as it was.
//
// Schema (see migrations in conversation-store.cpp; PRAGMA user_version holds the version):
//   conversations(id, title, created_at, updated_at, system_prompt, model_path, preset,
//                 sampling_json, pinned, current_message_id, deleted_at)
//   messages(id, conversation_id → conversations ON DELETE CASCADE,
//            parent_id → messages ON DELETE CASCADE (NULL for a root), role, content,
//            state, created_at, updated_at, tokens, stats_json)
//   messages_fts, conversations_fts: external-content FTS5 tables kept in sync by triggers.
// Times are stored as UTC milliseconds since the epoch.
//
// Branches: messages form a tree through parent_id. Regenerating an answer adds a new
// assistant child to the same user message (the old answers stay as siblings); editing
// a message adds a new sibling with the same parent (a new branch). Each conversation
// stores current_message_id, the message the user last added or selected; the active
// path runs from the root down to it and then on through the newest child at every
// level, so it always ends at a leaf. Without a stored message the newest root is used.
//
// Deleting is soft: deleteConversation() stamps deleted_at (hidden from lists and
// search), restoreConversation() undoes it, purgeDeleted() removes rows for good.
#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QSqlDatabase>
#include <QString>
#include <QThread>

class QSqlQuery;

class ConversationStore {
public:
    enum class ErrorKind {
        None,
        Locked,           // another connection held the lock past the busy timeout
        ReadOnly,         // the file or its folder cannot be written
        NotOurDatabase,   // not SQLite, damaged, or another program's schema
        TooNew,           // written by a newer KVmix Chat (higher schema version)
        InvalidArgument,  // unknown id, bad role/state, malformed import
        Io,               // anything else SQLite reported
        NotOpen,
    };

    enum class Role { System, User, Assistant };
    enum class State { Complete, Streaming, Stopped, Interrupted, Error };

    struct Conversation {
        qint64 id = 0;
        QString title;
        QDateTime createdAt;
        QDateTime updatedAt;  // last activity: creation, a message added or finished
        QString systemPrompt;
        QString modelPath;
        QString preset;
        QJsonObject sampling;
        bool pinned = false;
        qint64 currentMessageId = 0;  // 0: none stored
        QDateTime deletedAt;          // invalid unless soft-deleted
    };

    struct Message {
        qint64 id = 0;
        qint64 conversationId = 0;
        qint64 parentId = 0;  // 0 for a root message
        Role role = Role::User;
        QString content;
        State state = State::Complete;
        QDateTime createdAt;
        QDateTime updatedAt;
        int tokens = 0;
        QJsonObject stats;
    };

    struct SearchHit {
        qint64 conversationId = 0;
        qint64 messageId = 0;  // 0 when the title matched
        QString title;
        QString snippet;  // matched terms wrapped in [ and ]
    };

    struct OpenOptions {
        int busyTimeoutMs = 5000;
        // Migrate only up to this version (tests build old databases with it); -1: latest.
        int schemaVersion = -1;
    };

    ConversationStore();
    ~ConversationStore();
    ConversationStore(const ConversationStore&) = delete;
    ConversationStore& operator=(const ConversationStore&) = delete;

    static int latestSchemaVersion();
    static QString roleName(Role role);
    static QString stateName(State state);
    static bool roleFromName(const QString& name, Role* role);
    static bool stateFromName(const QString& name, State* state);

    // Opens or creates the database at path (the folder is created when missing),
    // enables WAL and foreign keys and runs pending migrations. Never modifies a file
    // that is not a KVmix Chat database. Runs PRAGMA quick_check (linear in the file
    // size, milliseconds for a chat history). Another program holding only the write
    // lock does not stop open() (WAL readers are not blocked); writes then fail as
    // Locked after busyTimeoutMs. Meant for one app instance per file: recoverInterrupted()
    // would also mark another live instance's streaming replies.
    bool open(const QString& path, const OpenOptions& options);
    bool open(const QString& path) { return open(path, OpenOptions{}); }
    void close();
    bool isOpen() const { return m_open; }
    QString path() const { return m_path; }
    int schemaVersion();  // PRAGMA user_version, -1 on error

    QString lastError() const { return m_error; }
    ErrorKind lastErrorKind() const { return m_errorKind; }

    // Conversations. Returns the new id, 0 on failure.
    qint64 createConversation(const QString& title, const QString& systemPrompt = {}, const QString& modelPath = {},
                              const QString& preset = {}, const QJsonObject& sampling = {});
    bool renameConversation(qint64 conversationId, const QString& title);
    bool setConversationSettings(qint64 conversationId, const QString& systemPrompt, const QString& modelPath,
                                 const QString& preset, const QJsonObject& sampling);
    bool setPinned(qint64 conversationId, bool pinned);
    bool deleteConversation(qint64 conversationId);   // soft: undo with restoreConversation
    bool restoreConversation(qint64 conversationId);  // clears deleted_at
    // Removes soft-deleted conversations (and their messages) deleted before cutoff;
    // an invalid cutoff removes all of them. Returns how many, -1 on failure.
    int purgeDeleted(const QDateTime& cutoff = {});
    bool conversation(qint64 conversationId, Conversation* out);
    // Not deleted ones, pinned first, then by last activity (updated_at, newest first).
    QList<Conversation> listConversations();
    // FTS5 over titles and message text: every word must match (the last one as a
    // prefix). One hit per conversation, best first; deleted conversations excluded.
    QList<SearchHit> search(const QString& query, int limit = 50);

    // Messages. parentId 0 starts a root. Committed before returning (the user message
    // is safe before generation starts). Becomes the conversation's current message.
    qint64 addMessage(qint64 conversationId, qint64 parentId, Role role, const QString& content);
    // Edit: a new sibling of messageId (same parent) holding newContent; returns its id.
    qint64 editMessage(qint64 messageId, const QString& newContent);
    // An empty assistant reply to parentId in state 'streaming'; returns its id.
    qint64 beginAssistantMessage(qint64 parentId);
    // One UPDATE of the text (the app calls it at least every 2 s while streaming).
    // Fails for a message that is no longer streaming.
    bool checkpointAssistantMessage(qint64 messageId, const QString& partialText);
    bool finishAssistantMessage(qint64 messageId, const QString& finalText, State state, int tokens = 0,
                                const QJsonObject& stats = {});
    // Start-up: every 'streaming' message becomes 'interrupted'. Returns how many, -1 on failure.
    int recoverInterrupted();
    bool message(qint64 messageId, Message* out);
    QList<Message> messages(qint64 conversationId);  // all of them, by id
    QList<Message> children(qint64 messageId);       // oldest first
    QList<Message> siblings(qint64 messageId);       // same parent (roots: other roots), itself included
    // Makes messageId the conversation's current message (switching branches).
    bool setCurrentMessage(qint64 conversationId, qint64 messageId);
    QList<Message> activePath(qint64 conversationId);  // root first

    // Export / import. Markdown: the active path. JSON: the whole tree, see exportJson in
    // the .cpp for the format; export → import → export gives identical bytes.
    QString exportMarkdown(qint64 conversationId);
    QByteArray exportJson(qint64 conversationId);  // empty on failure
    qint64 importJson(const QByteArray& json);     // new conversation id, 0 on failure

    QString integrityCheck();  // "ok" or SQLite's findings

private:
    bool fail(ErrorKind kind, const QString& message);
    bool failQuery(const QSqlQuery& query, const QString& what);
    bool exec(QSqlQuery& query, const QString& what);
    bool execSql(const QString& sql, const QString& what);
    bool begin();
    bool commit();
    void rollback();
    bool requireOpen();
    bool migrate(int target);
    bool touchConversation(qint64 conversationId, qint64 nowMs);
    qint64 insertMessage(qint64 conversationId, qint64 parentId, Role role, const QString& content, State state);
    bool readMessages(QSqlQuery& query, QList<Message>* out);

    QSqlDatabase m_db;
    QString m_connectionName;
    QString m_path;
    QString m_error;
    ErrorKind m_errorKind = ErrorKind::None;
    int m_busyTimeoutMs = 5000;
    bool m_open = false;
    QThread* m_thread = nullptr;  // the owner thread (checked in debug builds)
};
