#include "core/conversation-store.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSet>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringList>
#include <QVariant>

#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

namespace {

// PRAGMA application_id of a KVmix Chat database ("KVMC"): tells our files from other SQLite files.
constexpr qint64 kApplicationId = 0x4B564D43;

// Step-by-step migrations: entry N-1 takes the schema from version N-1 to N, in one
// transaction that also sets PRAGMA user_version = N. Never edit a released entry;
// append a new one (and extend the migration test) instead.
const std::vector<std::vector<const char*>>& migrations() {
    static const std::vector<std::vector<const char*>> steps = {
        // 1: the schema.
        {
            "PRAGMA application_id = 1263947075",  // kApplicationId, 0x4B564D43
            "CREATE TABLE conversations ("
            " id INTEGER PRIMARY KEY,"
            " title TEXT NOT NULL DEFAULT '',"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL,"
            " system_prompt TEXT NOT NULL DEFAULT '',"
            " model_path TEXT NOT NULL DEFAULT '',"
            " preset TEXT NOT NULL DEFAULT '',"
            " sampling_json TEXT NOT NULL DEFAULT '{}',"
            " pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),"
            " current_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,"
            " deleted_at INTEGER)",
            "CREATE TABLE messages ("
            " id INTEGER PRIMARY KEY,"
            " conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
            " parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,"
            " role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),"
            " content TEXT NOT NULL DEFAULT '',"
            " state TEXT NOT NULL DEFAULT 'complete'"
            "  CHECK (state IN ('complete', 'streaming', 'stopped', 'interrupted', 'error')),"
            " created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL,"
            " tokens INTEGER NOT NULL DEFAULT 0,"
            " stats_json TEXT NOT NULL DEFAULT '{}')",
            "CREATE INDEX messages_by_conversation ON messages(conversation_id, id)",
            "CREATE INDEX messages_by_parent ON messages(parent_id)",
            // Deleting a message has to find conversations pointing at it (ON DELETE SET NULL).
            "CREATE INDEX conversations_by_current ON conversations(current_message_id)",
            "CREATE INDEX conversations_by_activity ON conversations(updated_at)",
            // External-content FTS5: the text lives once, in messages/conversations.
            "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id',"
            " tokenize='unicode61 remove_diacritics 2')",
            "CREATE VIRTUAL TABLE conversations_fts USING fts5(title, content='conversations', content_rowid='id',"
            " tokenize='unicode61 remove_diacritics 2')",
            "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
            " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
            "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
            " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content); END",
            "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
            " INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);"
            " INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
            "CREATE TRIGGER conversations_fts_insert AFTER INSERT ON conversations BEGIN"
            " INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title); END",
            "CREATE TRIGGER conversations_fts_delete AFTER DELETE ON conversations BEGIN"
            " INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title); END",
            "CREATE TRIGGER conversations_fts_update AFTER UPDATE OF title ON conversations BEGIN"
            " INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);"
            " INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title); END",
        },
        // 2: a partial index so recoverInterrupted() at start-up does not scan every message.
        {
            "CREATE INDEX messages_streaming ON messages(state) WHERE state = 'streaming'",
        },
    };
    return steps;
}

qint64 nowMs() {
    return QDateTime::currentMSecsSinceEpoch();
}

QDateTime fromMs(const QVariant& v) {
    if (v.isNull()) return {};
    return QDateTime::fromMSecsSinceEpoch(v.toLongLong(), Qt::UTC);
}

QString toJsonText(const QJsonObject& o) {
    return QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact));
}

QJsonObject fromJsonText(const QString& s) {
    return QJsonDocument::fromJson(s.toUtf8()).object();
}

// A null QString would bind as SQL NULL; the text columns are NOT NULL.
QVariant nonNull(const QString& s) {
    return s.isNull() ? QVariant(QStringLiteral("")) : QVariant(s);
}

QVariant idOrNull(qint64 id) {
    return id > 0 ? QVariant(id) : QVariant(QMetaType::fromType<qint64>());
}

constexpr const char* kMessageColumns =
    "id, conversation_id, parent_id, role, content, state, created_at, updated_at, tokens, stats_json";
constexpr const char* kConversationColumns =
    "id, title, created_at, updated_at, system_prompt, model_path, preset, sampling_json, pinned,"
    " current_message_id, deleted_at";

ConversationStore::Conversation readConversation(const QSqlQuery& q) {
    ConversationStore::Conversation c;
    c.id = q.value(0).toLongLong();
    c.title = q.value(1).toString();
    c.createdAt = fromMs(q.value(2));
    c.updatedAt = fromMs(q.value(3));
    c.systemPrompt = q.value(4).toString();
    c.modelPath = q.value(5).toString();
    c.preset = q.value(6).toString();
    c.sampling = fromJsonText(q.value(7).toString());
    c.pinned = q.value(8).toInt() != 0;
    c.currentMessageId = q.value(9).toLongLong();
    c.deletedAt = fromMs(q.value(10));
    return c;
}

// Turns what the user typed into an FTS5 expression: every word quoted (so '-', ':',
// '"' or 'OR' are plain text), all required, the last one a prefix (search as you type).
QString ftsExpression(const QString& query) {
    QStringList terms;
    const QStringList words = query.split(QLatin1Char(' '), Qt::SkipEmptyParts);
    for (QString w : words) {
        w = w.trimmed();
        if (!std::any_of(w.begin(), w.end(), [](QChar ch) { return ch.isLetterOrNumber(); })) continue;
        w.replace(QLatin1Char('"'), QLatin1String("\"\""));
        terms << QLatin1Char('"') + w + QLatin1Char('"');
    }
    if (terms.isEmpty()) return {};
    terms.last() += QLatin1Char('*');
    return terms.join(QLatin1Char(' '));
}

QString isoMs(const QDateTime& t) {
    return t.toUTC().toString(Qt::ISODateWithMs);
}

}  // namespace

ConversationStore::ConversationStore() {
    static std::atomic<int> counter{0};
    m_connectionName = QStringLiteral("kvmix-conversations-%1").arg(counter.fetch_add(1));
}

ConversationStore::~ConversationStore() {
    close();
}

int ConversationStore::latestSchemaVersion() {
    return static_cast<int>(migrations().size());
}

QString ConversationStore::roleName(Role role) {
    switch (role) {
        case Role::System:
            return QStringLiteral("system");
        case Role::User:
            return QStringLiteral("user");
        case Role::Assistant:
            return QStringLiteral("assistant");
    }
    return {};
}

QString ConversationStore::stateName(State state) {
    switch (state) {
        case State::Complete:
            return QStringLiteral("complete");
        case State::Streaming:
            return QStringLiteral("streaming");
        case State::Stopped:
            return QStringLiteral("stopped");
        case State::Interrupted:
            return QStringLiteral("interrupted");
        case State::Error:
            return QStringLiteral("error");
    }
    return {};
}

bool ConversationStore::roleFromName(const QString& name, Role* role) {
    for (Role r : {Role::System, Role::User, Role::Assistant}) {
        if (roleName(r) == name) {
            *role = r;
            return true;
        }
    }
    return false;
}

bool ConversationStore::stateFromName(const QString& name, State* state) {
    for (State s : {State::Complete, State::Streaming, State::Stopped, State::Interrupted, State::Error}) {
        if (stateName(s) == name) {
            *state = s;
            return true;
        }
    }
    return false;
}

// ---- errors and statements -------------------------------------------------------------

bool ConversationStore::fail(ErrorKind kind, const QString& message) {
    m_errorKind = kind;
    m_error = message;
    return false;
}

bool ConversationStore::failQuery(const QSqlQuery& query, const QString& what) {
    const QSqlError err = query.lastError();
    // Qt reports SQLite's result code; the low byte is the primary code.
    const int code = err.nativeErrorCode().toInt() & 0xff;
    const QString detail = err.databaseText().isEmpty() ? err.text() : err.databaseText();
    switch (code) {
        case 5:  // SQLITE_BUSY
        case 6:  // SQLITE_LOCKED
            return fail(ErrorKind::Locked, QStringLiteral("conversations database %1 is locked by another program "
                                                          "(still busy after %2 ms while %3)")
                                               .arg(m_path)
                                               .arg(m_busyTimeoutMs)
                                               .arg(what));
        case 8:  // SQLITE_READONLY
            return fail(ErrorKind::ReadOnly, QStringLiteral("cannot write conversations to %1: read-only").arg(m_path));
        case 11:  // SQLITE_CORRUPT
        case 26:  // SQLITE_NOTADB
            return fail(ErrorKind::NotOurDatabase,
                        QStringLiteral("%1 is not a KVmix Chat database: %2").arg(m_path, detail));
        case 13:  // SQLITE_FULL
            return fail(ErrorKind::Io, QStringLiteral("cannot write conversations to %1: disk full").arg(m_path));
        default:
            return fail(ErrorKind::Io, QStringLiteral("%1 failed on %2: %3").arg(what, m_path, detail));
    }
}

bool ConversationStore::exec(QSqlQuery& query, const QString& what) {
    if (query.exec()) return true;
    return failQuery(query, what);
}

bool ConversationStore::execSql(const QString& sql, const QString& what) {
    QSqlQuery q(m_db);
    if (q.exec(sql)) return true;
    return failQuery(q, what);
}

// IMMEDIATE takes the write lock up front, so a competing writer makes us wait in the
// busy handler instead of failing halfway through the transaction.
bool ConversationStore::begin() {
    return execSql(QStringLiteral("BEGIN IMMEDIATE"), QStringLiteral("writing"));
}

bool ConversationStore::commit() {
    if (execSql(QStringLiteral("COMMIT"), QStringLiteral("committing"))) return true;
    rollback();
    return false;
}

void ConversationStore::rollback() {
    QSqlQuery q(m_db);
    q.exec(QStringLiteral("ROLLBACK"));  // may fail when SQLite already rolled back; nothing to report
}

bool ConversationStore::requireOpen() {
    Q_ASSERT_X(!m_thread || QThread::currentThread() == m_thread, "ConversationStore",
               "used from a thread other than the one that opened it");
    m_error.clear();  // lastError() describes the latest call only
    m_errorKind = ErrorKind::None;
    if (m_open) return true;
    return fail(ErrorKind::NotOpen, QStringLiteral("the conversations database is not open"));
}

// ---- open / close / migrations ---------------------------------------------------------

bool ConversationStore::open(const QString& path, const OpenOptions& options) {
    close();
    m_thread = QThread::currentThread();
    m_error.clear();
    m_errorKind = ErrorKind::None;
    m_busyTimeoutMs = std::max(0, options.busyTimeoutMs);
    const QFileInfo info(path);
    m_path = info.absoluteFilePath();
    const QString dir = info.absolutePath();
    const QString readOnly = QStringLiteral("cannot write conversations to %1: read-only").arg(m_path);

    if (!QDir(dir).exists() && !QDir().mkpath(dir))
        return fail(ErrorKind::ReadOnly,
                    QStringLiteral("cannot write conversations to %1: cannot create the folder").arg(m_path));
    if (info.exists()) {
        if (info.isDir())
            return fail(ErrorKind::NotOurDatabase,
                        QStringLiteral("%1 is not a KVmix Chat database: it is a folder").arg(m_path));
        QFile file(m_path);
        if (!file.open(QIODevice::ReadOnly))
            return fail(ErrorKind::Io, QStringLiteral("cannot read %1: %2").arg(m_path, file.errorString()));
        const QByteArray header = file.read(16);
        // An empty file is a new database; anything else must carry SQLite's magic.
        if (!header.isEmpty() && header != QByteArray("SQLite format 3\0", 16))
            return fail(ErrorKind::NotOurDatabase,
                        QStringLiteral("%1 is not a KVmix Chat database: not an SQLite file").arg(m_path));
        if (!info.isWritable()) return fail(ErrorKind::ReadOnly, readOnly);
    }
    // WAL keeps its -wal and -shm files next to the database.
    if (!QFileInfo(dir).isWritable()) return fail(ErrorKind::ReadOnly, readOnly);

    m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_connectionName);
    if (!m_db.isValid()) {
        close();
        return fail(ErrorKind::Io, QStringLiteral("the Qt SQLite driver (QSQLITE) is not available"));
    }
    m_db.setDatabaseName(m_path);
    m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=%1").arg(m_busyTimeoutMs));
    if (!m_db.open()) {
        const QString text = m_db.lastError().text();
        close();
        return fail(ErrorKind::Io, QStringLiteral("cannot open %1: %2").arg(m_path, text));
    }
    m_open = true;

    const auto bail = [this]() {
        const QString error = m_error;
        const ErrorKind kind = m_errorKind;
        close();
        m_error = error;
        m_errorKind = kind;
        return false;
    };
    const auto scalar = [this](const QString& sql, QVariant* out) {
        QSqlQuery q(m_db);
        if (!q.exec(sql)) return failQuery(q, QStringLiteral("opening"));
        *out = q.next() ? q.value(0) : QVariant();
        return true;
    };

    if (!execSql(QStringLiteral("PRAGMA busy_timeout = %1").arg(m_busyTimeoutMs), QStringLiteral("opening")))
        return bail();
    QVariant v;
    // Reading the schema is the first real read: a damaged header or a locked file shows here.
    if (!scalar(QStringLiteral("SELECT count(*) FROM sqlite_master"), &v)) return bail();
    QVariant version;
    QVariant appId;
    if (!scalar(QStringLiteral("PRAGMA user_version"), &version) ||
        !scalar(QStringLiteral("PRAGMA application_id"), &appId))
        return bail();
    if (version.toInt() == 0 && v.toLongLong() > 0) {
        fail(ErrorKind::NotOurDatabase,
             QStringLiteral("%1 is not a KVmix Chat database: it holds another program's tables").arg(m_path));
        return bail();
    }
    if (version.toInt() > 0 && appId.toLongLong() != kApplicationId) {
        fail(ErrorKind::NotOurDatabase,
             QStringLiteral("%1 is not a KVmix Chat database: application id %2").arg(m_path).arg(appId.toLongLong()));
        return bail();
    }
    if (version.toInt() > latestSchemaVersion()) {
        fail(ErrorKind::TooNew, QStringLiteral("%1 was written by a newer KVmix Chat (schema version %2; this "
                                               "version reads up to %3)")
                                    .arg(m_path)
                                    .arg(version.toInt())
                                    .arg(latestSchemaVersion()));
        return bail();
    }
    if (version.toInt() > 0) {
        QSqlQuery q(m_db);
        if (!q.exec(QStringLiteral("PRAGMA quick_check"))) {
            failQuery(q, QStringLiteral("checking"));
            return bail();
        }
        if (q.next() && q.value(0).toString() != QLatin1String("ok")) {
            fail(ErrorKind::NotOurDatabase, QStringLiteral("%1 is not a KVmix Chat database: the file is damaged (%2)")
                                                .arg(m_path, q.value(0).toString()));
            return bail();
        }
    }
    if (!scalar(QStringLiteral("PRAGMA journal_mode = WAL"), &v)) return bail();
    if (v.toString().compare(QLatin1String("wal"), Qt::CaseInsensitive) != 0) {
        fail(ErrorKind::Io,
             QStringLiteral("cannot switch %1 to WAL mode (journal mode is %2)").arg(m_path, v.toString()));
        return bail();
    }
    // FULL: every commit (user message, checkpoint) is on disk, not only in the OS cache.
    if (!execSql(QStringLiteral("PRAGMA synchronous = FULL"), QStringLiteral("opening")) ||
        !execSql(QStringLiteral("PRAGMA foreign_keys = ON"), QStringLiteral("opening")))
        return bail();
    const int target =
        options.schemaVersion < 0 ? latestSchemaVersion() : std::min(options.schemaVersion, latestSchemaVersion());
    if (!migrate(target)) return bail();
    return true;
}

bool ConversationStore::migrate(int target) {
    const auto& steps = migrations();
    {
        // Up to date: no write lock needed, so a database another program is writing still opens.
        QSqlQuery q(m_db);
        if (!q.exec(QStringLiteral("PRAGMA user_version")) || !q.next())
            return failQuery(q, QStringLiteral("reading the schema version"));
        if (q.value(0).toInt() >= target) return true;
    }
    for (;;) {
        if (!begin()) return false;
        QSqlQuery q(m_db);
        if (!q.exec(QStringLiteral("PRAGMA user_version")) || !q.next()) {
            failQuery(q, QStringLiteral("reading the schema version"));
            rollback();
            return false;
        }
        // Re-read inside the write transaction: another instance may have migrated meanwhile.
        const int current = q.value(0).toInt();
        q.finish();
        if (current >= target) {
            rollback();
            return true;
        }
        const QString what = QStringLiteral("migrating to schema version %1").arg(current + 1);
        for (const char* sql : steps[static_cast<size_t>(current)]) {
            if (!q.exec(QString::fromUtf8(sql))) {
                failQuery(q, what);
                rollback();
                return false;
            }
        }
        if (!execSql(QStringLiteral("PRAGMA user_version = %1").arg(current + 1), what)) {
            rollback();
            return false;
        }
        if (!commit()) return false;
    }
}

void ConversationStore::close() {
    if (m_db.isValid()) {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_connectionName);
    }
    m_open = false;
}

int ConversationStore::schemaVersion() {
    if (!requireOpen()) return -1;
    QSqlQuery q(m_db);
    if (!q.exec(QStringLiteral("PRAGMA user_version")) || !q.next()) {
        failQuery(q, QStringLiteral("reading the schema version"));
        return -1;
    }
    return q.value(0).toInt();
}

QString ConversationStore::integrityCheck() {
    if (!requireOpen()) return m_error;
    QSqlQuery q(m_db);
    if (!q.exec(QStringLiteral("PRAGMA integrity_check"))) {
        failQuery(q, QStringLiteral("checking integrity"));
        return m_error;
    }
    QStringList rows;
    while (q.next()) rows << q.value(0).toString();
    return rows.join(QLatin1Char('\n'));
}

// ---- conversations ---------------------------------------------------------------------

qint64 ConversationStore::createConversation(const QString& title, const QString& systemPrompt,
                                             const QString& modelPath, const QString& preset,
                                             const QJsonObject& sampling) {
    if (!requireOpen()) return 0;
    const qint64 now = nowMs();
    QSqlQuery q(m_db);
    q.prepare(
        QStringLiteral("INSERT INTO conversations (title, created_at, updated_at, system_prompt, model_path,"
                       " preset, sampling_json) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    q.addBindValue(nonNull(title));
    q.addBindValue(now);
    q.addBindValue(now);
    q.addBindValue(nonNull(systemPrompt));
    q.addBindValue(nonNull(modelPath));
    q.addBindValue(nonNull(preset));
    q.addBindValue(toJsonText(sampling));
    if (!exec(q, QStringLiteral("creating a conversation"))) return 0;
    return q.lastInsertId().toLongLong();
}

bool ConversationStore::renameConversation(qint64 conversationId, const QString& title) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    // Not activity: renaming does not move the conversation in the list.
    q.prepare(QStringLiteral("UPDATE conversations SET title = ? WHERE id = ?"));
    q.addBindValue(nonNull(title));
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("renaming a conversation"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1").arg(conversationId));
    return true;
}

bool ConversationStore::setConversationSettings(qint64 conversationId, const QString& systemPrompt,
                                                const QString& modelPath, const QString& preset,
                                                const QJsonObject& sampling) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(
        QStringLiteral("UPDATE conversations SET system_prompt = ?, model_path = ?, preset = ?,"
                       " sampling_json = ? WHERE id = ?"));
    q.addBindValue(nonNull(systemPrompt));
    q.addBindValue(nonNull(modelPath));
    q.addBindValue(nonNull(preset));
    q.addBindValue(toJsonText(sampling));
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("saving conversation settings"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1").arg(conversationId));
    return true;
}

bool ConversationStore::setPinned(qint64 conversationId, bool pinned) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE conversations SET pinned = ? WHERE id = ?"));
    q.addBindValue(pinned ? 1 : 0);
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("pinning a conversation"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1").arg(conversationId));
    return true;
}

bool ConversationStore::deleteConversation(qint64 conversationId) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL"));
    q.addBindValue(nowMs());
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("deleting a conversation"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1 to delete").arg(conversationId));
    return true;
}

bool ConversationStore::restoreConversation(qint64 conversationId) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE conversations SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL"));
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("restoring a conversation"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument,
                    QStringLiteral("no deleted conversation %1 to restore").arg(conversationId));
    return true;
}

int ConversationStore::purgeDeleted(const QDateTime& cutoff) {
    if (!requireOpen()) return -1;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at < ?"));
    q.addBindValue(cutoff.isValid() ? cutoff.toMSecsSinceEpoch() : std::numeric_limits<qint64>::max());
    if (!exec(q, QStringLiteral("purging deleted conversations"))) return -1;
    return q.numRowsAffected();
}

bool ConversationStore::conversation(qint64 conversationId, Conversation* out) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("SELECT %1 FROM conversations WHERE id = ?").arg(QLatin1String(kConversationColumns)));
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("reading a conversation"))) return false;
    if (!q.next()) return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1").arg(conversationId));
    *out = readConversation(q);
    return true;
}

QList<ConversationStore::Conversation> ConversationStore::listConversations() {
    QList<Conversation> out;
    if (!requireOpen()) return out;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    if (!q.exec(QStringLiteral("SELECT %1 FROM conversations WHERE deleted_at IS NULL"
                               " ORDER BY pinned DESC, updated_at DESC, id DESC")
                    .arg(QLatin1String(kConversationColumns)))) {
        failQuery(q, QStringLiteral("listing conversations"));
        return out;
    }
    while (q.next()) out.append(readConversation(q));
    return out;
}

QList<ConversationStore::SearchHit> ConversationStore::search(const QString& query, int limit) {
    QList<SearchHit> out;
    if (!requireOpen()) return out;
    const QString expr = ftsExpression(query);
    if (expr.isEmpty() || limit <= 0) return out;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    // bm25 is lower for better matches; a title match counts double.
    q.prepare(QStringLiteral(
        "SELECT m.conversation_id, m.id, c.title,"
        "  snippet(messages_fts, 0, '[', ']', '…', 12), bm25(messages_fts) AS rank"
        " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid"
        " JOIN conversations c ON c.id = m.conversation_id"
        " WHERE messages_fts MATCH ? AND c.deleted_at IS NULL"
        " UNION ALL"
        " SELECT c.id, 0, c.title, highlight(conversations_fts, 0, '[', ']'), 2.0 * bm25(conversations_fts) AS rank"
        " FROM conversations_fts JOIN conversations c ON c.id = conversations_fts.rowid"
        " WHERE conversations_fts MATCH ? AND c.deleted_at IS NULL"
        " ORDER BY rank LIMIT ?"));
    q.addBindValue(expr);
    q.addBindValue(expr);
    q.addBindValue(limit * 8);  // several hits per conversation collapse into one below
    if (!exec(q, QStringLiteral("searching"))) return out;
    QSet<qint64> seen;
    while (q.next() && out.size() < limit) {
        const qint64 conv = q.value(0).toLongLong();
        if (seen.contains(conv)) continue;
        seen.insert(conv);
        out.append(SearchHit{conv, q.value(1).toLongLong(), q.value(2).toString(), q.value(3).toString()});
    }
    return out;
}

// ---- messages --------------------------------------------------------------------------

bool ConversationStore::touchConversation(qint64 conversationId, qint64 now) {
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE conversations SET updated_at = ? WHERE id = ?"));
    q.addBindValue(now);
    q.addBindValue(conversationId);
    return exec(q, QStringLiteral("updating a conversation"));
}

// Inside a transaction: checks the parent, inserts, makes the message current.
qint64 ConversationStore::insertMessage(qint64 conversationId, qint64 parentId, Role role, const QString& content,
                                        State state) {
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("SELECT deleted_at FROM conversations WHERE id = ?"));
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("adding a message"))) return 0;
    if (!q.next()) return fail(ErrorKind::InvalidArgument, QStringLiteral("no conversation %1").arg(conversationId));
    if (!q.value(0).isNull())
        return fail(ErrorKind::InvalidArgument, QStringLiteral("conversation %1 is deleted").arg(conversationId));
    if (parentId > 0) {
        q.prepare(QStringLiteral("SELECT conversation_id FROM messages WHERE id = ?"));
        q.addBindValue(parentId);
        if (!exec(q, QStringLiteral("adding a message"))) return 0;
        if (!q.next() || q.value(0).toLongLong() != conversationId)
            return fail(ErrorKind::InvalidArgument,
                        QStringLiteral("no message %1 in conversation %2").arg(parentId).arg(conversationId));
    }
    const qint64 now = nowMs();
    q.prepare(
        QStringLiteral("INSERT INTO messages (conversation_id, parent_id, role, content, state, created_at,"
                       " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    q.addBindValue(conversationId);
    q.addBindValue(idOrNull(parentId));
    q.addBindValue(roleName(role));
    q.addBindValue(nonNull(content));
    q.addBindValue(stateName(state));
    q.addBindValue(now);
    q.addBindValue(now);
    if (!exec(q, QStringLiteral("adding a message"))) return 0;
    const qint64 id = q.lastInsertId().toLongLong();
    q.prepare(QStringLiteral("UPDATE conversations SET updated_at = ?, current_message_id = ? WHERE id = ?"));
    q.addBindValue(now);
    q.addBindValue(id);
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("adding a message"))) return 0;
    return id;
}

qint64 ConversationStore::addMessage(qint64 conversationId, qint64 parentId, Role role, const QString& content) {
    if (!requireOpen() || !begin()) return 0;
    const qint64 id = insertMessage(conversationId, parentId, role, content, State::Complete);
    if (id == 0) {
        rollback();
        return 0;
    }
    return commit() ? id : 0;
}

qint64 ConversationStore::editMessage(qint64 messageId, const QString& newContent) {
    Message m;
    if (!message(messageId, &m)) return 0;
    return addMessage(m.conversationId, m.parentId, m.role, newContent);
}

qint64 ConversationStore::beginAssistantMessage(qint64 parentId) {
    Message parent;
    if (!message(parentId, &parent) || !begin()) return 0;
    const qint64 id = insertMessage(parent.conversationId, parentId, Role::Assistant, QString(), State::Streaming);
    if (id == 0) {
        rollback();
        return 0;
    }
    return commit() ? id : 0;
}

bool ConversationStore::checkpointAssistantMessage(qint64 messageId, const QString& partialText) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE messages SET content = ?, updated_at = ? WHERE id = ? AND state = 'streaming'"));
    q.addBindValue(nonNull(partialText));
    q.addBindValue(nowMs());
    q.addBindValue(messageId);
    if (!exec(q, QStringLiteral("saving a streaming reply"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("message %1 is not streaming").arg(messageId));
    return true;
}

bool ConversationStore::finishAssistantMessage(qint64 messageId, const QString& finalText, State state, int tokens,
                                               const QJsonObject& stats) {
    if (!requireOpen()) return false;
    if (state == State::Streaming)
        return fail(ErrorKind::InvalidArgument, QStringLiteral("a finished message cannot be 'streaming'"));
    if (!begin()) return false;
    const qint64 now = nowMs();
    QSqlQuery q(m_db);
    q.prepare(
        QStringLiteral("UPDATE messages SET content = ?, state = ?, tokens = ?, stats_json = ?, updated_at = ?"
                       " WHERE id = ? AND state = 'streaming' RETURNING conversation_id"));
    q.addBindValue(nonNull(finalText));
    q.addBindValue(stateName(state));
    q.addBindValue(tokens);
    q.addBindValue(toJsonText(stats));
    q.addBindValue(now);
    q.addBindValue(messageId);
    if (!exec(q, QStringLiteral("saving a reply"))) {
        rollback();
        return false;
    }
    if (!q.next()) {
        rollback();
        return fail(ErrorKind::InvalidArgument, QStringLiteral("message %1 is not streaming").arg(messageId));
    }
    const qint64 conv = q.value(0).toLongLong();
    q.finish();
    if (!touchConversation(conv, now)) {
        rollback();
        return false;
    }
    return commit();
}

int ConversationStore::recoverInterrupted() {
    if (!requireOpen()) return -1;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("UPDATE messages SET state = 'interrupted', updated_at = ? WHERE state = 'streaming'"));
    q.addBindValue(nowMs());
    if (!exec(q, QStringLiteral("recovering interrupted replies"))) return -1;
    return q.numRowsAffected();
}

bool ConversationStore::readMessages(QSqlQuery& q, QList<Message>* out) {
    if (!exec(q, QStringLiteral("reading messages"))) return false;
    while (q.next()) {
        Message m;
        m.id = q.value(0).toLongLong();
        m.conversationId = q.value(1).toLongLong();
        m.parentId = q.value(2).toLongLong();
        roleFromName(q.value(3).toString(), &m.role);  // CHECK constraints keep these valid
        m.content = q.value(4).toString();
        stateFromName(q.value(5).toString(), &m.state);
        m.createdAt = fromMs(q.value(6));
        m.updatedAt = fromMs(q.value(7));
        m.tokens = q.value(8).toInt();
        m.stats = fromJsonText(q.value(9).toString());
        out->append(m);
    }
    return true;
}

bool ConversationStore::message(qint64 messageId, Message* out) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE id = ?").arg(QLatin1String(kMessageColumns)));
    q.addBindValue(messageId);
    QList<Message> list;
    if (!readMessages(q, &list)) return false;
    if (list.isEmpty()) return fail(ErrorKind::InvalidArgument, QStringLiteral("no message %1").arg(messageId));
    *out = list.first();
    return true;
}

QList<ConversationStore::Message> ConversationStore::messages(qint64 conversationId) {
    QList<Message> out;
    if (!requireOpen()) return out;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE conversation_id = ? ORDER BY id")
                  .arg(QLatin1String(kMessageColumns)));
    q.addBindValue(conversationId);
    readMessages(q, &out);
    return out;
}

QList<ConversationStore::Message> ConversationStore::children(qint64 messageId) {
    QList<Message> out;
    if (!requireOpen()) return out;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    q.prepare(
        QStringLiteral("SELECT %1 FROM messages WHERE parent_id = ? ORDER BY id").arg(QLatin1String(kMessageColumns)));
    q.addBindValue(messageId);
    readMessages(q, &out);
    return out;
}

QList<ConversationStore::Message> ConversationStore::siblings(qint64 messageId) {
    QList<Message> out;
    Message m;
    if (!message(messageId, &m)) return out;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    if (m.parentId > 0) {
        q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE parent_id = ? ORDER BY id")
                      .arg(QLatin1String(kMessageColumns)));
        q.addBindValue(m.parentId);
    } else {
        q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE conversation_id = ? AND parent_id IS NULL ORDER BY id")
                      .arg(QLatin1String(kMessageColumns)));
        q.addBindValue(m.conversationId);
    }
    readMessages(q, &out);
    return out;
}

bool ConversationStore::setCurrentMessage(qint64 conversationId, qint64 messageId) {
    if (!requireOpen()) return false;
    QSqlQuery q(m_db);
    q.prepare(
        QStringLiteral("UPDATE conversations SET current_message_id = ? WHERE id = ?"
                       " AND EXISTS (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)"));
    q.addBindValue(messageId);
    q.addBindValue(conversationId);
    q.addBindValue(messageId);
    q.addBindValue(conversationId);
    if (!exec(q, QStringLiteral("selecting a branch"))) return false;
    if (q.numRowsAffected() != 1)
        return fail(ErrorKind::InvalidArgument,
                    QStringLiteral("no message %1 in conversation %2").arg(messageId).arg(conversationId));
    return true;
}

QList<ConversationStore::Message> ConversationStore::activePath(qint64 conversationId) {
    QList<Message> path;
    Conversation conv;
    if (!conversation(conversationId, &conv)) return path;
    const QList<Message> all = messages(conversationId);
    if (all.isEmpty()) return path;
    QHash<qint64, qsizetype> byId;
    QHash<qint64, qint64> newestChild;  // parent id (0 for roots) → newest child id
    for (qsizetype i = 0; i < all.size(); ++i) {
        byId.insert(all[i].id, i);
        newestChild.insert(all[i].parentId, all[i].id);  // `all` is sorted by id: the last one wins
    }
    qint64 cur = byId.contains(conv.currentMessageId) ? conv.currentMessageId : newestChild.value(0);
    // Up from the current message to its root...
    for (qint64 id = cur; id > 0; id = all[byId.value(id)].parentId) path.prepend(all[byId.value(id)]);
    // ...then down through the newest children to a leaf.
    while (newestChild.contains(cur)) {
        cur = newestChild.value(cur);
        path.append(all[byId.value(cur)]);
    }
    return path;
}

// ---- export / import -------------------------------------------------------------------

QString ConversationStore::exportMarkdown(qint64 conversationId) {
    Conversation conv;
    if (!conversation(conversationId, &conv)) return {};
    const QList<Message> path = activePath(conversationId);
    QString md = QStringLiteral("# %1\n\n").arg(conv.title.isEmpty() ? QStringLiteral("Untitled") : conv.title);
    QStringList meta;
    if (!conv.modelPath.isEmpty()) meta << QStringLiteral("Model: `%1`").arg(QFileInfo(conv.modelPath).fileName());
    if (!conv.preset.isEmpty()) meta << QStringLiteral("KV preset: %1").arg(conv.preset);
    meta << QStringLiteral("Created: %1").arg(isoMs(conv.createdAt));
    md += QStringLiteral("_%1_\n\n").arg(meta.join(QStringLiteral(" · ")));
    if (!conv.systemPrompt.isEmpty()) md += QStringLiteral("## System\n\n%1\n\n").arg(conv.systemPrompt);
    for (const Message& m : path) {
        const QString role = m.role == Role::User        ? QStringLiteral("User")
                             : m.role == Role::Assistant ? QStringLiteral("Assistant")
                                                         : QStringLiteral("System");
        md += QStringLiteral("## %1\n\n%2\n\n").arg(role, m.content);
        if (m.state != State::Complete) md += QStringLiteral("_(reply %1)_\n\n").arg(stateName(m.state));
    }
    return md;
}

// Format (version 1): {"format": "kvmix-chat-conversation", "version": 1, "title", "created_at",
// "updated_at", "system_prompt", "model_path", "preset", "sampling", "pinned",
// "current_message", "messages": [{"id", "parent", "role", "content", "state", "created_at",
// "updated_at", "tokens", "stats"}]}. Message ids are local to the file (1, 2, ... in creation
// order; "parent" and "current_message" refer to them, null for none), so database ids never
// leak. Times are ISO 8601 UTC with milliseconds and survive import unchanged; the deletion
// mark is not exported.
QByteArray ConversationStore::exportJson(qint64 conversationId) {
    Conversation conv;
    if (!conversation(conversationId, &conv)) return {};
    QList<Message> all;
    QSqlQuery q(m_db);
    q.setForwardOnly(true);
    q.prepare(QStringLiteral("SELECT %1 FROM messages WHERE conversation_id = ? ORDER BY id")
                  .arg(QLatin1String(kMessageColumns)));
    q.addBindValue(conversationId);
    if (!readMessages(q, &all)) return {};
    QHash<qint64, int> local;
    QJsonArray list;
    for (const Message& m : all) {
        const int id = static_cast<int>(local.size()) + 1;
        local.insert(m.id, id);
        QJsonObject o;
        o[QStringLiteral("id")] = id;
        o[QStringLiteral("parent")] = m.parentId > 0 ? QJsonValue(local.value(m.parentId)) : QJsonValue();
        o[QStringLiteral("role")] = roleName(m.role);
        o[QStringLiteral("content")] = m.content;
        o[QStringLiteral("state")] = stateName(m.state);
        o[QStringLiteral("created_at")] = isoMs(m.createdAt);
        o[QStringLiteral("updated_at")] = isoMs(m.updatedAt);
        o[QStringLiteral("tokens")] = m.tokens;
        o[QStringLiteral("stats")] = m.stats;
        list.append(o);
    }
    QJsonObject root;
    root[QStringLiteral("format")] = QStringLiteral("kvmix-chat-conversation");
    root[QStringLiteral("version")] = 1;
    root[QStringLiteral("title")] = conv.title;
    root[QStringLiteral("created_at")] = isoMs(conv.createdAt);
    root[QStringLiteral("updated_at")] = isoMs(conv.updatedAt);
    root[QStringLiteral("system_prompt")] = conv.systemPrompt;
    root[QStringLiteral("model_path")] = conv.modelPath;
    root[QStringLiteral("preset")] = conv.preset;
    root[QStringLiteral("sampling")] = conv.sampling;
    root[QStringLiteral("pinned")] = conv.pinned;
    root[QStringLiteral("current_message")] =
        local.contains(conv.currentMessageId) ? QJsonValue(local.value(conv.currentMessageId)) : QJsonValue();
    root[QStringLiteral("messages")] = list;
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

// Untrusted input: everything is checked before anything is written, and the whole
// conversation goes in one transaction. A 'streaming' message comes in as 'interrupted'.
qint64 ConversationStore::importJson(const QByteArray& json) {
    if (!requireOpen()) return 0;
    const auto bad = [this](const QString& why) {
        fail(ErrorKind::InvalidArgument, QStringLiteral("cannot import the conversation: %1").arg(why));
        return qint64(0);
    };
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (doc.isNull())
        return bad(
            QStringLiteral("invalid JSON at offset %1: %2").arg(parseError.offset).arg(parseError.errorString()));
    if (!doc.isObject()) return bad(QStringLiteral("the top level is not an object"));
    const QJsonObject root = doc.object();
    if (root.value(QStringLiteral("format")).toString() != QLatin1String("kvmix-chat-conversation"))
        return bad(QStringLiteral("not a KVmix Chat conversation export"));
    if (root.value(QStringLiteral("version")).toInt(-1) != 1)
        return bad(QStringLiteral("unsupported export version %1")
                       .arg(root.value(QStringLiteral("version")).toVariant().toString()));

    const auto time = [](const QJsonValue& v, QDateTime* out) {
        if (!v.isString()) return false;
        *out = QDateTime::fromString(v.toString(), Qt::ISODateWithMs);
        return out->isValid();
    };
    const auto text = [](const QJsonObject& o, const char* key, QString* out) {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.isUndefined()) return true;  // optional, empty
        if (!v.isString()) return false;
        *out = v.toString();
        return true;
    };
    Conversation conv;
    if (!text(root, "title", &conv.title) || !text(root, "system_prompt", &conv.systemPrompt) ||
        !text(root, "model_path", &conv.modelPath) || !text(root, "preset", &conv.preset))
        return bad(QStringLiteral("a conversation field is not a string"));
    if (!time(root.value(QStringLiteral("created_at")), &conv.createdAt) ||
        !time(root.value(QStringLiteral("updated_at")), &conv.updatedAt))
        return bad(QStringLiteral("missing or invalid conversation times"));
    const QJsonValue sampling = root.value(QStringLiteral("sampling"));
    if (!sampling.isUndefined() && !sampling.isObject()) return bad(QStringLiteral("'sampling' is not an object"));
    conv.sampling = sampling.toObject();
    const QJsonValue pinned = root.value(QStringLiteral("pinned"));
    if (!pinned.isUndefined() && !pinned.isBool()) return bad(QStringLiteral("'pinned' is not a boolean"));
    conv.pinned = pinned.toBool();
    const QJsonValue list = root.value(QStringLiteral("messages"));
    if (!list.isArray()) return bad(QStringLiteral("'messages' is not an array"));

    struct Item {
        Message m;
        int localId = 0;
        int localParent = 0;
    };
    std::vector<Item> items;
    QSet<int> known;
    const QJsonArray array = list.toArray();
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QString where = QStringLiteral("message %1: ").arg(i);
        if (!array[i].isObject()) return bad(where + QStringLiteral("not an object"));
        const QJsonObject o = array[i].toObject();
        Item item;
        const QJsonValue id = o.value(QStringLiteral("id"));
        item.localId = id.toInt(0);
        if (!id.isDouble() || item.localId <= 0 || known.contains(item.localId))
            return bad(where + QStringLiteral("missing, invalid or repeated 'id'"));
        const QJsonValue parent = o.value(QStringLiteral("parent"));
        if (!parent.isNull() && !parent.isUndefined()) {
            item.localParent = parent.toInt(0);
            // Parents come first, which also rules out cycles.
            if (!parent.isDouble() || !known.contains(item.localParent))
                return bad(where + QStringLiteral("'parent' is not an earlier message"));
        }
        if (!roleFromName(o.value(QStringLiteral("role")).toString(), &item.m.role))
            return bad(where + QStringLiteral("invalid 'role'"));
        if (!stateFromName(o.value(QStringLiteral("state")).toString(), &item.m.state))
            return bad(where + QStringLiteral("invalid 'state'"));
        if (item.m.state == State::Streaming) item.m.state = State::Interrupted;
        if (!o.value(QStringLiteral("content")).isString())
            return bad(where + QStringLiteral("'content' is not a string"));
        item.m.content = o.value(QStringLiteral("content")).toString();
        if (!time(o.value(QStringLiteral("created_at")), &item.m.createdAt) ||
            !time(o.value(QStringLiteral("updated_at")), &item.m.updatedAt))
            return bad(where + QStringLiteral("missing or invalid times"));
        const QJsonValue tokens = o.value(QStringLiteral("tokens"));
        if (!tokens.isUndefined() && (!tokens.isDouble() || tokens.toInt(-1) < 0))
            return bad(where + QStringLiteral("invalid 'tokens'"));
        item.m.tokens = tokens.toInt(0);
        const QJsonValue stats = o.value(QStringLiteral("stats"));
        if (!stats.isUndefined() && !stats.isObject()) return bad(where + QStringLiteral("'stats' is not an object"));
        item.m.stats = stats.toObject();
        known.insert(item.localId);
        items.push_back(item);
    }
    const QJsonValue current = root.value(QStringLiteral("current_message"));
    int localCurrent = 0;
    if (!current.isNull() && !current.isUndefined()) {
        localCurrent = current.toInt(0);
        if (!current.isDouble() || !known.contains(localCurrent))
            return bad(QStringLiteral("'current_message' is not a message"));
    }

    if (!begin()) return 0;
    const auto abort = [this]() {
        rollback();
        return qint64(0);
    };
    QSqlQuery q(m_db);
    q.prepare(
        QStringLiteral("INSERT INTO conversations (title, created_at, updated_at, system_prompt, model_path,"
                       " preset, sampling_json, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    q.addBindValue(nonNull(conv.title));
    q.addBindValue(conv.createdAt.toMSecsSinceEpoch());
    q.addBindValue(conv.updatedAt.toMSecsSinceEpoch());
    q.addBindValue(nonNull(conv.systemPrompt));
    q.addBindValue(nonNull(conv.modelPath));
    q.addBindValue(nonNull(conv.preset));
    q.addBindValue(toJsonText(conv.sampling));
    q.addBindValue(conv.pinned ? 1 : 0);
    if (!exec(q, QStringLiteral("importing a conversation"))) return abort();
    const qint64 convId = q.lastInsertId().toLongLong();
    QHash<int, qint64> dbIds;
    q.prepare(
        QStringLiteral("INSERT INTO messages (conversation_id, parent_id, role, content, state, created_at,"
                       " updated_at, tokens, stats_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    for (const Item& item : items) {
        q.addBindValue(convId);
        q.addBindValue(idOrNull(dbIds.value(item.localParent)));
        q.addBindValue(roleName(item.m.role));
        q.addBindValue(nonNull(item.m.content));
        q.addBindValue(stateName(item.m.state));
        q.addBindValue(item.m.createdAt.toMSecsSinceEpoch());
        q.addBindValue(item.m.updatedAt.toMSecsSinceEpoch());
        q.addBindValue(item.m.tokens);
        q.addBindValue(toJsonText(item.m.stats));
        if (!exec(q, QStringLiteral("importing a message"))) return abort();
        dbIds.insert(item.localId, q.lastInsertId().toLongLong());
    }
    if (localCurrent > 0) {
        q.prepare(QStringLiteral("UPDATE conversations SET current_message_id = ? WHERE id = ?"));
        q.addBindValue(dbIds.value(localCurrent));
        q.addBindValue(convId);
        if (!exec(q, QStringLiteral("importing a conversation"))) return abort();
    }
    return commit() ? convId : 0;
}
