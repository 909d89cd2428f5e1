// ConversationStore: schema and migrations, CRUD and soft delete, FTS5 search, branches,
// streaming checkpoints and recovery, export/import, and the failure modes of open()
// (locked, read-only, corrupt, foreign, newer) — plus a SIGKILL crash test against
// the store-crash-writer helper.
#include <QElapsedTimer>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QRandomGenerator>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

#include <unistd.h>

#include "core/conversation-store.h"
#include "crash-text.h"
#include "qt-skip.h"

using Role = ConversationStore::Role;
using State = ConversationStore::State;
using ErrorKind = ConversationStore::ErrorKind;

namespace {

// A second, plain connection to the same file, as another program would have.
class RawDb {
public:
    explicit RawDb(const QString& path) {
        static int counter = 0;
        m_name = QStringLiteral("raw-%1").arg(++counter);
        m_db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), m_name);
        m_db.setDatabaseName(path);
        m_db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=0"));
        m_ok = m_db.open();
    }
    ~RawDb() {
        m_db.close();
        m_db = QSqlDatabase();
        QSqlDatabase::removeDatabase(m_name);
    }
    bool ok() const { return m_ok; }
    bool exec(const QString& sql) {
        QSqlQuery q(m_db);
        if (q.exec(sql)) return true;
        qWarning("raw SQL failed: %s: %s", qPrintable(sql), qPrintable(q.lastError().text()));
        return false;
    }
    QVariant scalar(const QString& sql) {
        QSqlQuery q(m_db);
        if (!q.exec(sql) || !q.next()) return {};
        return q.value(0);
    }

private:
    QString m_name;
    QSqlDatabase m_db;
    bool m_ok = false;
};

QByteArray fileBytes(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeBytes(const QString& path, const QByteArray& bytes) {
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(f.write(bytes), bytes.size());
}

// chattr on exit, for the root case of the read-only test.
struct ImmutableGuard {
    QStringList paths;
    ~ImmutableGuard() {
        for (const QString& p : paths) QProcess::execute(QStringLiteral("chattr"), {QStringLiteral("-i"), p});
    }
};

}  // namespace

class TestConversationStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_next = 0;
    QString freshPath() { return m_dir.filePath(QStringLiteral("db-%1/conversations.db").arg(++m_next)); }

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void migratesFromEmpty() {
        const QString path = freshPath();  // its folder does not exist yet
        ConversationStore store;
        QVERIFY2(store.open(path), qPrintable(store.lastError()));
        QCOMPARE(store.schemaVersion(), ConversationStore::latestSchemaVersion());
        QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
        store.close();
        RawDb raw(path);
        QVERIFY(raw.ok());
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA journal_mode")).toString(), QStringLiteral("wal"));
        QCOMPARE(raw.scalar(QStringLiteral("PRAGMA application_id")).toLongLong(), 0x4B564D43);
        for (const char* name :
             {"conversations", "messages", "messages_fts", "conversations_fts", "messages_streaming"})
            QVERIFY2(
                raw.scalar(
                       QStringLiteral("SELECT count(*) FROM sqlite_master WHERE name = '%1'").arg(QLatin1String(name)))
                        .toInt() == 1,
                name);
        // Opening again is a no-op for the schema.
        QVERIFY(store.open(path));
        QCOMPARE(store.schemaVersion(), ConversationStore::latestSchemaVersion());
    }

    void migratesFromVersion1WithData() {
        const QString path = freshPath();
        {
            ConversationStore store;
            ConversationStore::OpenOptions v1;
            v1.schemaVersion = 1;
            QVERIFY2(store.open(path, v1), qPrintable(store.lastError()));
            QCOMPARE(store.schemaVersion(), 1);
        }
        {
            // Data written by a version-1 build, straight into the version-1 schema.
            RawDb raw(path);
            QVERIFY(
                raw.exec(QStringLiteral("INSERT INTO conversations (id, title, created_at, updated_at)"
                                        " VALUES (7, 'Old chat about zebras', 1000, 2000)")));
            QVERIFY(
                raw.exec(QStringLiteral("INSERT INTO messages (id, conversation_id, parent_id, role, content,"
                                        " state, created_at, updated_at) VALUES"
                                        " (1, 7, NULL, 'user', 'tell me about okapis', 'complete', 1000, 1000),"
                                        " (2, 7, 1, 'assistant', 'okapis are giraffids', 'streaming', 1500, 1500)")));
            QCOMPARE(raw.scalar(QStringLiteral("SELECT count(*) FROM sqlite_master WHERE name = 'messages_streaming'"))
                         .toInt(),
                     0);
        }
        ConversationStore store;
        QVERIFY2(store.open(path), qPrintable(store.lastError()));
        QCOMPARE(store.schemaVersion(), ConversationStore::latestSchemaVersion());
        ConversationStore::Conversation c;
        QVERIFY(store.conversation(7, &c));
        QCOMPARE(c.title, QStringLiteral("Old chat about zebras"));
        QCOMPARE(c.updatedAt.toMSecsSinceEpoch(), 2000);
        const auto msgs = store.messages(7);
        QCOMPARE(msgs.size(), 2);
        QCOMPARE(msgs[1].content, QStringLiteral("okapis are giraffids"));
        QCOMPARE(msgs[1].parentId, 1);
        QCOMPARE(store.search(QStringLiteral("giraffids")).size(), 1);
        QCOMPARE(store.recoverInterrupted(), 1);
        QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
        store.close();
        RawDb raw(path);
        QCOMPARE(
            raw.scalar(QStringLiteral("SELECT count(*) FROM sqlite_master WHERE name = 'messages_streaming'")).toInt(),
            1);
    }

    void rejectsNewerSchema() {
        const QString path = freshPath();
        {
            ConversationStore store;
            QVERIFY(store.open(path));
        }
        {
            RawDb raw(path);
            QVERIFY(raw.exec(QStringLiteral("PRAGMA user_version = 99")));
        }
        const QByteArray before = fileBytes(path);
        ConversationStore store;
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::TooNew);
        QVERIFY2(store.lastError().contains(QStringLiteral("newer KVmix Chat")), qPrintable(store.lastError()));
        QCOMPARE(fileBytes(path), before);
    }

    void rejectsForeignAndCorruptFiles() {
        // Not SQLite at all.
        QString path = freshPath();
        QVERIFY(QDir().mkpath(QFileInfo(path).absolutePath()));
        QByteArray junk(8192, '\0');
        QRandomGenerator rng(42);
        for (char& b : junk) b = static_cast<char>(rng.bounded(256));
        writeBytes(path, junk);
        ConversationStore store;
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::NotOurDatabase);
        QCOMPARE(store.lastError(), QStringLiteral("%1 is not a KVmix Chat database: not an SQLite file").arg(path));
        qInfo("random bytes: %s", qPrintable(store.lastError()));
        QCOMPARE(fileBytes(path), junk);

        // Another program's SQLite database.
        path = freshPath();
        QVERIFY(QDir().mkpath(QFileInfo(path).absolutePath()));
        {
            RawDb raw(path);
            QVERIFY(raw.exec(QStringLiteral("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")));
        }
        QByteArray before = fileBytes(path);
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::NotOurDatabase);
        QVERIFY2(store.lastError().startsWith(path + QStringLiteral(" is not a KVmix Chat database: ")),
                 qPrintable(store.lastError()));
        QCOMPARE(fileBytes(path), before);
        qInfo("foreign SQLite: %s", qPrintable(store.lastError()));

        // Our database with damaged pages (the header survives, the b-trees do not).
        path = freshPath();
        {
            ConversationStore writer;
            QVERIFY(writer.open(path));
            const qint64 conv = writer.createConversation(QStringLiteral("soon damaged"));
            for (int i = 0; i < 200; ++i) QVERIFY(writer.addMessage(conv, 0, Role::User, crashText(300)) > 0);
        }  // closing checkpoints the WAL into the file
        QByteArray bytes = fileBytes(path);
        QVERIFY(bytes.size() > 16 * 4096);
        for (qsizetype i = 4096; i < bytes.size(); i += 3) bytes[i] = static_cast<char>(0xA5);
        writeBytes(path, bytes);
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::NotOurDatabase);
        QVERIFY2(store.lastError().startsWith(path + QStringLiteral(" is not a KVmix Chat database: ")),
                 qPrintable(store.lastError()));
        QCOMPARE(fileBytes(path), bytes);
        qInfo("damaged pages: %s", qPrintable(store.lastError()));

        // A folder where the file should be.
        path = freshPath();
        QVERIFY(QDir().mkpath(path));
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::NotOurDatabase);
    }

    void readOnlyPath() {
        const QString path = freshPath();
        const QString folder = QFileInfo(path).absolutePath();
        {
            ConversationStore store;
            QVERIFY(store.open(path));
            QVERIFY(store.createConversation(QStringLiteral("keep me")) > 0);
        }
        const QString emptyFolder = m_dir.filePath(QStringLiteral("ro-empty"));
        QVERIFY(QDir().mkpath(emptyFolder));
        const QString missing = emptyFolder + QStringLiteral("/conversations.db");
        ImmutableGuard guard;
        if (geteuid() == 0) {
            // Root ignores permission bits; the immutable attribute binds even root.
            for (const QString& p : {path, folder, emptyFolder}) {
                if (QProcess::execute(QStringLiteral("chattr"), {QStringLiteral("+i"), p}) != 0)
                    KVMIX_QSKIP(QStringLiteral("running as root without chattr +i: cannot make a read-only folder"));
                guard.paths << p;
            }
        } else {
            QVERIFY(QFile::setPermissions(path, QFileDevice::ReadOwner));
            QVERIFY(QFile::setPermissions(folder, QFileDevice::ReadOwner | QFileDevice::ExeOwner));
            QVERIFY(QFile::setPermissions(emptyFolder, QFileDevice::ReadOwner | QFileDevice::ExeOwner));
        }
        const QByteArray before = fileBytes(path);
        ConversationStore store;
        QVERIFY(!store.open(path));
        QCOMPARE(store.lastErrorKind(), ErrorKind::ReadOnly);
        QCOMPARE(store.lastError(), QStringLiteral("cannot write conversations to %1: read-only").arg(path));
        QCOMPARE(fileBytes(path), before);
        QVERIFY(!store.open(missing));
        QCOMPARE(store.lastErrorKind(), ErrorKind::ReadOnly);
        QCOMPARE(store.lastError(), QStringLiteral("cannot write conversations to %1: read-only").arg(missing));
        QVERIFY(!QFile::exists(missing));
        qInfo("read-only: %s", qPrintable(store.lastError()));
        if (geteuid() != 0) {
            QFile::setPermissions(folder, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
            QFile::setPermissions(emptyFolder,
                                  QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
            QFile::setPermissions(path, QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        }
    }

    void lockedDatabase() {
        const QString path = freshPath();
        ConversationStore::OpenOptions opts;
        opts.busyTimeoutMs = 300;
        qint64 conv = 0;
        {
            ConversationStore store;
            QVERIFY(store.open(path, opts));
            conv = store.createConversation(QStringLiteral("locked"));
            QVERIFY(conv > 0);
        }
        // Another program holds the write lock: open still works (WAL readers do not
        // block), writes fail with a clear message once the busy timeout has passed.
        {
            RawDb other(path);
            QVERIFY(other.exec(QStringLiteral("BEGIN EXCLUSIVE")));
            QVERIFY(other.exec(QStringLiteral("UPDATE conversations SET title = 'mine' WHERE id = %1").arg(conv)));
            ConversationStore store;
            QVERIFY2(store.open(path, opts), qPrintable(store.lastError()));
            QElapsedTimer t;
            t.start();
            QCOMPARE(store.addMessage(conv, 0, Role::User, QStringLiteral("hello")), 0);
            const qint64 waited = t.elapsed();
            QCOMPARE(store.lastErrorKind(), ErrorKind::Locked);
            QVERIFY2(store.lastError().startsWith(
                         QStringLiteral("conversations database %1 is locked by another program").arg(path)),
                     qPrintable(store.lastError()));
            QVERIFY2(waited >= 250 && waited < 3000, qPrintable(QString::number(waited)));
            qInfo("write while locked (%lld ms): %s", static_cast<long long>(waited), qPrintable(store.lastError()));
            QVERIFY(!store.checkpointAssistantMessage(1, QStringLiteral("x")));
            QCOMPARE(store.lastErrorKind(), ErrorKind::Locked);
            QVERIFY(other.exec(QStringLiteral("ROLLBACK")));
            // The lock is gone: the same store writes again.
            QVERIFY2(store.addMessage(conv, 0, Role::User, QStringLiteral("hello")) > 0, qPrintable(store.lastError()));
        }
        // Another program holds the whole file (exclusive locking mode): open itself fails.
        {
            RawDb other(path);
            QVERIFY(other.exec(QStringLiteral("PRAGMA locking_mode = EXCLUSIVE")));
            QVERIFY(other.exec(QStringLiteral("BEGIN EXCLUSIVE")));
            QVERIFY(other.exec(QStringLiteral("COMMIT")));  // the lock stays in exclusive mode
            ConversationStore store;
            QElapsedTimer t;
            t.start();
            QVERIFY(!store.open(path, opts));
            QVERIFY(t.elapsed() < 3000);
            QCOMPARE(store.lastErrorKind(), ErrorKind::Locked);
            QVERIFY2(store.lastError().contains(QStringLiteral("is locked by another program")),
                     qPrintable(store.lastError()));
            qInfo("open while locked (%lld ms): %s", static_cast<long long>(t.elapsed()),
                  qPrintable(store.lastError()));
        }
        ConversationStore store;
        QVERIFY2(store.open(path, opts), qPrintable(store.lastError()));
        QCOMPARE(store.messages(conv).size(), 1);
    }

    void conversationsAndUndo() {
        ConversationStore store;
        QVERIFY(store.open(freshPath()));
        QJsonObject sampling{{QStringLiteral("temperature"), 0.7}, {QStringLiteral("top_p"), 0.9}};
        const qint64 a =
            store.createConversation(QStringLiteral("Alpha"), QStringLiteral("Be brief."),
                                     QStringLiteral("/m/gemma.gguf"), QStringLiteral("balanced"), sampling);
        QTest::qWait(3);
        const qint64 b = store.createConversation(QStringLiteral("Beta"));
        QTest::qWait(3);
        const qint64 c = store.createConversation(QStringLiteral("Gamma"));
        QVERIFY(a > 0 && b > 0 && c > 0);
        auto ids = [&store]() {
            QList<qint64> out;
            for (const auto& conv : store.listConversations()) out << conv.id;
            return out;
        };
        QCOMPARE(ids(), (QList<qint64>{c, b, a}));
        QTest::qWait(3);
        QVERIFY(store.addMessage(a, 0, Role::User, QStringLiteral("bump")) > 0);  // activity moves it up
        QCOMPARE(ids(), (QList<qint64>{a, c, b}));
        QVERIFY(store.setPinned(b, true));
        QCOMPARE(ids(), (QList<qint64>{b, a, c}));
        QVERIFY(store.renameConversation(c, QStringLiteral("Gamma renamed")));
        ConversationStore::Conversation conv;
        QVERIFY(store.conversation(c, &conv));
        QCOMPARE(conv.title, QStringLiteral("Gamma renamed"));
        QVERIFY(store.conversation(a, &conv));
        QCOMPARE(conv.sampling, sampling);
        QCOMPARE(conv.systemPrompt, QStringLiteral("Be brief."));
        QCOMPARE(conv.preset, QStringLiteral("balanced"));
        QVERIFY(!store.renameConversation(999, QStringLiteral("x")));
        QCOMPARE(store.lastErrorKind(), ErrorKind::InvalidArgument);

        // Soft delete → hidden; restore → back with its messages; purge → gone for good.
        QVERIFY(store.deleteConversation(a));
        QCOMPARE(ids(), (QList<qint64>{b, c}));
        QVERIFY(store.search(QStringLiteral("bump")).isEmpty());
        QCOMPARE(store.addMessage(a, 0, Role::User, QStringLiteral("into the bin")), 0);
        QVERIFY(store.restoreConversation(a));
        QCOMPARE(ids(), (QList<qint64>{b, a, c}));
        QCOMPARE(store.messages(a).size(), 1);
        QCOMPARE(store.search(QStringLiteral("bump")).size(), 1);
        QVERIFY(store.deleteConversation(a));
        QCOMPARE(store.purgeDeleted(QDateTime::currentDateTimeUtc().addSecs(-3600)), 0);  // too recent
        QCOMPARE(store.purgeDeleted(), 1);
        QVERIFY(!store.conversation(a, &conv));
        QVERIFY(store.messages(a).isEmpty());  // cascaded
        QVERIFY(store.search(QStringLiteral("bump")).isEmpty());
        QVERIFY(!store.restoreConversation(a));
        QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
    }

    void search() {
        ConversationStore store;
        QVERIFY(store.open(freshPath()));
        const qint64 cooking = store.createConversation(QStringLiteral("Crème brûlée technique"));
        const qint64 travel = store.createConversation(QStringLiteral("Trip planning"));
        const qint64 russian = store.createConversation(QStringLiteral("Язык"));
        const qint64 u1 = store.addMessage(cooking, 0, Role::User, QStringLiteral("How long should the custard bake?"));
        const qint64 a1 = store.beginAssistantMessage(u1);
        QVERIFY(store.finishAssistantMessage(
            a1, QStringLiteral("Bake it in a water bath at 150 °C for about forty minutes, until it just sets."),
            State::Complete));
        store.addMessage(travel, 0, Role::User,
                         QStringLiteral("Trains from Zürich to Genève, and a café near the station?"));
        store.addMessage(russian, 0, Role::User,
                         QStringLiteral("Как сказать «спасибо большое» по-японски? ありがとう"));

        // A term in the middle of a message, with the snippet marking it.
        auto hits = store.search(QStringLiteral("water"));
        QCOMPARE(hits.size(), 1);
        QCOMPARE(hits[0].conversationId, cooking);
        QCOMPARE(hits[0].messageId, a1);
        QVERIFY2(hits[0].snippet.contains(QStringLiteral("[water]")), qPrintable(hits[0].snippet));
        QCOMPARE(hits[0].title, QStringLiteral("Crème brûlée technique"));
        // Titles, with diacritics folded both ways.
        hits = store.search(QStringLiteral("creme brulee"));
        QCOMPARE(hits.size(), 1);
        QCOMPARE(hits[0].conversationId, cooking);
        QCOMPARE(hits[0].messageId, 0);
        QVERIFY2(hits[0].snippet.contains(QStringLiteral("[Crème]")), qPrintable(hits[0].snippet));
        QCOMPARE(store.search(QStringLiteral("GENEVE")).value(0).conversationId, travel);
        QCOMPARE(store.search(QStringLiteral("zurich cafe")).value(0).conversationId, travel);
        // Cyrillic, case folding, prefix of the last word, and Japanese as its own token.
        QCOMPARE(store.search(QStringLiteral("СПАСИБО")).value(0).conversationId, russian);
        QCOMPARE(store.search(QStringLiteral("больш")).value(0).conversationId, russian);
        QCOMPARE(store.search(QStringLiteral("язык")).value(0).conversationId, russian);
        QCOMPARE(store.search(QStringLiteral("ありがとう")).value(0).conversationId, russian);
        // All words must match.
        QVERIFY(store.search(QStringLiteral("water trains")).isEmpty());
        // FTS5 syntax in user input is plain text, never an error.
        for (const char* q : {"\"", "bake OR", "NEAR(", "-custard", "col:umn", "*", "(((", "AND"}) {
            store.search(QString::fromUtf8(q));
            QVERIFY2(store.lastErrorKind() == ErrorKind::None, qPrintable(store.lastError()));
        }
        QCOMPARE(store.search(QStringLiteral("-custard")).value(0).conversationId, cooking);
        // The index follows renames and streaming text.
        QVERIFY(store.renameConversation(travel, QStringLiteral("Swiss rail")));
        QVERIFY(store.search(QStringLiteral("planning")).isEmpty());
        QCOMPARE(store.search(QStringLiteral("rail")).value(0).conversationId, travel);
        const qint64 a2 = store.beginAssistantMessage(u1);
        QVERIFY(store.checkpointAssistantMessage(a2, QStringLiteral("Use a bain-marie")));
        QCOMPARE(store.search(QStringLiteral("marie")).value(0).messageId, a2);
        QVERIFY(store.finishAssistantMessage(a2, QStringLiteral("Use a ramekin"), State::Stopped));
        QVERIFY(store.search(QStringLiteral("marie")).isEmpty());
        QCOMPARE(store.search(QStringLiteral("ramekin")).value(0).messageId, a2);
        // One hit per conversation even when several messages match.
        store.addMessage(cooking, a2, Role::User, QStringLiteral("And the custard topping?"));
        QCOMPARE(store.search(QStringLiteral("custard")).size(), 1);
        QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
    }

    void branches() {
        ConversationStore store;
        QVERIFY(store.open(freshPath()));
        const qint64 conv = store.createConversation(QStringLiteral("branches"));
        const qint64 u1 = store.addMessage(conv, 0, Role::User, QStringLiteral("question 1"));
        const qint64 a1 = store.beginAssistantMessage(u1);
        QVERIFY(store.finishAssistantMessage(a1, QStringLiteral("answer 1"), State::Complete));
        const qint64 u2 = store.addMessage(conv, a1, Role::User, QStringLiteral("question 2"));
        const qint64 a2 = store.beginAssistantMessage(u2);
        QVERIFY(store.finishAssistantMessage(a2, QStringLiteral("answer 2"), State::Complete));
        auto ids = [](const QList<ConversationStore::Message>& list) {
            QList<qint64> out;
            for (const auto& m : list) out << m.id;
            return out;
        };
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1, u2, a2}));

        // Regenerate answer 1: the old answer (and what followed it) stays as a sibling.
        const qint64 a1b = store.beginAssistantMessage(u1);
        QVERIFY(store.finishAssistantMessage(a1b, QStringLiteral("answer 1, take 2"), State::Complete));
        QCOMPARE(ids(store.children(u1)), (QList<qint64>{a1, a1b}));
        QCOMPARE(ids(store.siblings(a1)), (QList<qint64>{a1, a1b}));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1b}));
        // Switching back to the first answer brings its continuation back.
        QVERIFY(store.setCurrentMessage(conv, a1));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1, u2, a2}));

        // Edit question 2: a new branch next to it.
        const qint64 u2b = store.editMessage(u2, QStringLiteral("question 2, edited"));
        QVERIFY(u2b > 0);
        ConversationStore::Message m;
        QVERIFY(store.message(u2b, &m));
        QCOMPARE(m.parentId, a1);
        QCOMPARE(m.role, Role::User);
        QCOMPARE(ids(store.siblings(u2)), (QList<qint64>{u2, u2b}));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1, u2b}));
        // Edit the very first message: a second root.
        const qint64 u1b = store.editMessage(u1, QStringLiteral("question 1, edited"));
        QCOMPARE(ids(store.siblings(u1)), (QList<qint64>{u1, u1b}));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1b}));
        // Selecting a message in the middle follows the newest children below it.
        QVERIFY(store.setCurrentMessage(conv, u1));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1b}));
        QVERIFY(store.setCurrentMessage(conv, a1));
        QCOMPARE(ids(store.activePath(conv)), (QList<qint64>{u1, a1, u2b}));

        // Guards: parents must belong to the conversation; no foreign current message.
        const qint64 other = store.createConversation(QStringLiteral("other"));
        QCOMPARE(store.addMessage(other, u1, Role::User, QStringLiteral("x")), 0);
        QCOMPARE(store.lastErrorKind(), ErrorKind::InvalidArgument);
        QVERIFY(!store.setCurrentMessage(other, u1));
        QCOMPARE(store.beginAssistantMessage(424242), 0);
        QVERIFY(store.activePath(other).isEmpty());
    }

    void streamingAndRecovery() {
        const QString path = freshPath();
        qint64 reply = 0;
        qint64 conv = 0;
        {
            ConversationStore store;
            QVERIFY(store.open(path));
            conv = store.createConversation(QStringLiteral("stream"));
            const qint64 user = store.addMessage(conv, 0, Role::User, QStringLiteral("hi"));
            reply = store.beginAssistantMessage(user);
            ConversationStore::Message m;
            QVERIFY(store.message(reply, &m));
            QCOMPARE(m.state, State::Streaming);
            QCOMPARE(m.role, Role::Assistant);
            QVERIFY(m.content.isEmpty());
            QVERIFY(store.checkpointAssistantMessage(reply, QStringLiteral("Hel")));
            QVERIFY(store.checkpointAssistantMessage(reply, QStringLiteral("Hello, wor")));
            QVERIFY(!store.finishAssistantMessage(reply, QStringLiteral("x"), State::Streaming));
            // A second reply that completes normally.
            const qint64 done = store.beginAssistantMessage(user);
            const QJsonObject stats{{QStringLiteral("tokens_per_second"), 41.5}, {QStringLiteral("kv_bytes"), 123456}};
            QVERIFY(store.finishAssistantMessage(done, QStringLiteral("Hi!"), State::Complete, 3, stats));
            QVERIFY(store.message(done, &m));
            QCOMPARE(m.state, State::Complete);
            QCOMPARE(m.tokens, 3);
            QCOMPARE(m.stats, stats);
            QVERIFY(!store.checkpointAssistantMessage(done, QStringLiteral("late")));
            QVERIFY(!store.finishAssistantMessage(done, QStringLiteral("again"), State::Complete));
            // No finish for `reply`: the app "crashes" here.
        }
        ConversationStore store;
        QVERIFY(store.open(path));
        QCOMPARE(store.recoverInterrupted(), 1);
        QCOMPARE(store.recoverInterrupted(), 0);
        ConversationStore::Message m;
        QVERIFY(store.message(reply, &m));
        QCOMPARE(m.state, State::Interrupted);
        QCOMPARE(m.content, QStringLiteral("Hello, wor"));
        QVERIFY(!store.checkpointAssistantMessage(reply, QStringLiteral("Hello, world")));
    }

    void exportImportRoundTrip() {
        ConversationStore store;
        QVERIFY(store.open(freshPath()));
        const qint64 conv =
            store.createConversation(QStringLiteral("Round trip — ünïcödé ✓"), QStringLiteral("You are terse."),
                                     QStringLiteral("/models/x.gguf"), QStringLiteral("aggressive"),
                                     QJsonObject{{QStringLiteral("temperature"), 0.25}, {QStringLiteral("seed"), 7}});
        QVERIFY(store.setPinned(conv, true));
        const qint64 u1 = store.addMessage(conv, 0, Role::User, QStringLiteral("line 1\nline \"2\"\t漢字 🙂"));
        const qint64 a1 = store.beginAssistantMessage(u1);
        QVERIFY(store.finishAssistantMessage(a1, QStringLiteral("first"), State::Stopped, 1,
                                             QJsonObject{{QStringLiteral("ms"), 12}}));
        const qint64 a2 = store.beginAssistantMessage(u1);
        QVERIFY(store.finishAssistantMessage(a2, QStringLiteral("second"), State::Complete, 1));
        const qint64 u2 = store.addMessage(conv, a1, Role::User, QStringLiteral("follow-up on the first"));
        const qint64 a3 = store.beginAssistantMessage(u2);
        QVERIFY(store.finishAssistantMessage(a3, QString(), State::Error, 0,
                                             QJsonObject{{QStringLiteral("error"), QStringLiteral("out of memory")}}));
        QVERIFY(store.editMessage(u1, QStringLiteral("edited root")) > 0);
        QVERIFY(store.setCurrentMessage(conv, a2));

        const QByteArray first = store.exportJson(conv);
        QVERIFY(!first.isEmpty());
        const QJsonObject doc = QJsonDocument::fromJson(first).object();
        QCOMPARE(doc.value(QStringLiteral("messages")).toArray().size(), 6);
        QCOMPARE(doc.value(QStringLiteral("current_message")).toInt(), 3);  // a2 is the third message

        ConversationStore other;
        QVERIFY(other.open(freshPath()));
        other.createConversation(QStringLiteral("shifts the ids"));
        other.addMessage(1, 0, Role::User, QStringLiteral("shifts the message ids"));
        const qint64 imported = other.importJson(first);
        QVERIFY2(imported > 0, qPrintable(other.lastError()));
        QCOMPARE(other.exportJson(imported), first);  // byte for byte
        QCOMPARE(other.activePath(imported).size(), 2);
        QCOMPARE(other.activePath(imported).last().content, QStringLiteral("second"));
        QCOMPARE(other.search(QStringLiteral("follow")).value(0).conversationId, imported);

        // Malformed input: a clear error and nothing written.
        const int before = static_cast<int>(other.listConversations().size());
        QJsonObject broken = doc;
        QJsonArray msgs = broken.value(QStringLiteral("messages")).toArray();
        QJsonObject m0 = msgs[0].toObject();
        m0[QStringLiteral("parent")] = 5;  // a later message
        msgs[0] = m0;
        broken[QStringLiteral("messages")] = msgs;
        const QList<QByteArray> bad = {
            QByteArray("{not json"),
            QByteArray("[]"),
            QByteArray("{\"format\": \"something else\"}"),
            QJsonDocument(broken).toJson(),
            QByteArray(first).replace("\"assistant\"", "\"wizard\""),
        };
        for (const QByteArray& b : bad) {
            QCOMPARE(other.importJson(b), 0);
            QCOMPARE(other.lastErrorKind(), ErrorKind::InvalidArgument);
            QVERIFY2(other.lastError().startsWith(QStringLiteral("cannot import the conversation: ")),
                     qPrintable(other.lastError()));
        }
        QCOMPARE(static_cast<int>(other.listConversations().size()), before);
    }

    void markdownExport() {
        ConversationStore store;
        QVERIFY(store.open(freshPath()));
        const qint64 conv = store.createConversation(QStringLiteral("Notes"), QStringLiteral("Answer in French."),
                                                     QStringLiteral("/models/gemma.gguf"), QStringLiteral("balanced"));
        const qint64 u = store.addMessage(conv, 0, Role::User, QStringLiteral("Hello?"));
        const qint64 a = store.beginAssistantMessage(u);
        QVERIFY(store.finishAssistantMessage(a, QStringLiteral("old answer"), State::Complete));
        const qint64 b = store.beginAssistantMessage(u);
        QVERIFY(store.finishAssistantMessage(b, QStringLiteral("Bonjour !"), State::Stopped));
        const QString md = store.exportMarkdown(conv);
        QVERIFY(md.startsWith(QStringLiteral("# Notes\n\n")));
        QVERIFY(md.contains(QStringLiteral("Model: `gemma.gguf`")));
        QVERIFY(md.contains(QStringLiteral("## System\n\nAnswer in French.\n\n")));
        QVERIFY(md.contains(QStringLiteral("## User\n\nHello?\n\n## Assistant\n\nBonjour !\n\n_(reply stopped)_")));
        QVERIFY(!md.contains(QStringLiteral("old answer")));  // the active path only
        QVERIFY(store.exportMarkdown(999).isEmpty());
    }

    // SIGKILL the writer 24 times at seeded points (early, or after a seeded number of its
    // reported commits: no clock decides a verdict); every commit it reported must survive
    // with at least the reported text, and the file must stay sound.
    void crashSafety() {
        const QString path = freshPath();
        QVERIFY(QDir().mkpath(QFileInfo(path).absolutePath()));
        QRandomGenerator rng(20240611);
        QHash<qint64, int> committed;  // message id → longest reported length
        int kills = 0;
        int recoveredByWriter = 0;
        int runsThatCommitted = 0;
        for (int run = 0; run < 24; ++run) {
            QProcess writer;
            writer.setProcessChannelMode(QProcess::SeparateChannels);
            writer.start(QStringLiteral(KVMIX_CRASH_WRITER), {path, QString::number(run)});
            QVERIFY2(writer.waitForStarted(5000), qPrintable(writer.errorString()));
            if (run % 6 == 0) {
                // Early: inside open, migrations or recovery.
                QThread::msleep(rng.bounded(25u));
            } else {
                // In the middle of a chat: after a seeded number of reported commits.
                const int after = 2 + static_cast<int>(rng.bounded(60u));  // "recovered", then commits
                int seen = 0;
                while (seen < after && writer.state() == QProcess::Running) {
                    writer.waitForReadyRead(1000);
                    seen = static_cast<int>(writer.peek(1 << 24).count('\n'));
                }
            }
            QVERIFY2(writer.state() == QProcess::Running,
                     qPrintable(QStringLiteral("the writer stopped by itself: ") + writer.readAllStandardError()));
            writer.kill();  // SIGKILL
            ++kills;
            QVERIFY(writer.waitForFinished(30000));
            const QString err = QString::fromLocal8Bit(writer.readAllStandardError()).trimmed();
            QVERIFY2(writer.exitStatus() == QProcess::CrashExit, qPrintable(QStringLiteral("writer exited: ") + err));
            const QByteArray out = writer.readAllStandardOutput();
            int lines = 0;
            for (const QByteArray& line : out.split('\n')) {
                const QList<QByteArray> f = line.split(' ');
                if (f.size() == 3 && f[0] == "committed") {
                    const qint64 id = f[1].toLongLong();
                    committed[id] = std::max(committed.value(id), f[2].toInt());
                    ++lines;
                } else if (f.size() == 2 && f[0] == "recovered") {
                    recoveredByWriter += f[1].toInt();
                }
            }
            if (lines > 0) ++runsThatCommitted;
        }
        qInfo("crash test: %d SIGKILLs, %d runs committed data, %lld messages reported, writer recovered %d", kills,
              runsThatCommitted, static_cast<long long>(committed.size()), recoveredByWriter);
        QCOMPARE(kills, 24);
        QVERIFY(runsThatCommitted >= 20);  // every run killed after a reported commit

        ConversationStore store;
        QVERIFY2(store.open(path), qPrintable(store.lastError()));
        QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
        int streaming = 0;
        QHash<qint64, ConversationStore::Message> all;
        for (const auto& conv : store.listConversations()) {
            for (const auto& m : store.messages(conv.id)) {
                all.insert(m.id, m);
                if (m.state == State::Streaming) ++streaming;
            }
        }
        for (auto it = committed.cbegin(); it != committed.cend(); ++it) {
            QVERIFY2(all.contains(it.key()), qPrintable(QStringLiteral("message %1 lost").arg(it.key())));
            const QString& content = all.value(it.key()).content;
            QVERIFY2(content.size() >= it.value() && content.startsWith(crashText(it.value())),
                     qPrintable(QStringLiteral("message %1: %2 chars, %3 reported")
                                    .arg(it.key())
                                    .arg(content.size())
                                    .arg(it.value())));
        }
        QVERIFY(streaming <= 1);  // each writer start recovered the previous run's reply
        QCOMPARE(store.recoverInterrupted(), streaming);
        for (const auto& conv : store.listConversations())
            for (const auto& m : store.messages(conv.id)) QVERIFY(m.state != State::Streaming);
    }
};

QTEST_GUILESS_MAIN(TestConversationStore)
#include "test-conversation-store.moc"
