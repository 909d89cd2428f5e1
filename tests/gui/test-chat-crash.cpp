// Crash safety through the real chat path: chat-crash-driver (AppServices: store, inference
// worker, ChatController, the tiny fixture model) is SIGKILLed 100 times while it chats,
// at seeded points counted in its reported commits (no clock decides a verdict). After
// every kill the database must pass integrity_check, hold every commit the driver
// reported (at least that text, checked by hash), and hold at most one streaming answer;
// the next start-up must mark it interrupted.
#include <QCryptographicHash>
#include <QHash>
#include <QProcess>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include "core/conversation-store.h"

namespace {

struct Commit {
    qsizetype length = 0;
    QByteArray sha1;
};

QString modelPath() { return QStringLiteral(KVMIX_TEST_DATA_DIR "/models/tiny-llama-q8_0.gguf"); }

}  // namespace

class TestChatCrash : public QObject {
    Q_OBJECT

private slots:
    void killWhileStreaming() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(QStringLiteral("chats.sqlite"));
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("XDG_DATA_HOME"), dir.filePath(QStringLiteral("data")));
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), dir.filePath(QStringLiteral("config")));

        QRandomGenerator rng(20261205);
        QHash<qint64, Commit> committed;  // message id → the longest text reported committed
        int interruptedBefore = 0;        // interrupted answers in the file before this run
        int killedMidAnswer = 0, recoveredChecked = 0;
        const int runs = 100;
        for (int run = 0; run < runs; ++run) {
            QProcess driver;
            driver.setProcessEnvironment(env);
            driver.setProcessChannelMode(QProcess::SeparateChannels);
            driver.start(QStringLiteral(KVMIX_CHAT_CRASH_DRIVER), {db, modelPath(), QString::number(run)});
            QVERIFY2(driver.waitForStarted(30000), qPrintable(driver.errorString()));

            // One run in ten dies early (store open, recovery, model load); the others after
            // a seeded number of reported commits, plus a few ms so the kill can land anywhere.
            const int killAfter = run % 10 == 0 ? 0 : 1 + static_cast<int>(rng.bounded(40u));
            const int extraMs = static_cast<int>(rng.bounded(run % 10 == 0 ? 150u : 15u));
            int commits = 0;
            int recovered = -1;  // what the driver's start-up marked interrupted
            QByteArray pending;
            const auto readLines = [&] {
                pending += driver.readAllStandardOutput();
                qsizetype nl;
                while ((nl = pending.indexOf('\n')) >= 0) {
                    const QList<QByteArray> f = pending.left(nl).split(' ');
                    pending.remove(0, nl + 1);
                    if (f.size() == 4 && f[0] == "committed") {
                        ++commits;
                        Commit& c = committed[f[1].toLongLong()];
                        if (f[2].toLongLong() >= c.length) c = {f[2].toLongLong(), f[3]};
                    } else if (f.size() == 2 && f[0] == "recovered") {
                        recovered = f[1].toInt();
                    }
                }
            };
            while (commits < killAfter && driver.state() == QProcess::Running) {
                driver.waitForReadyRead(1000);
                readLines();
            }
            if (extraMs > 0) QThread::msleep(static_cast<unsigned long>(extraMs));
            QVERIFY2(driver.state() == QProcess::Running,
                     qPrintable(QStringLiteral("run %1: the driver stopped by itself: %2")
                                    .arg(run)
                                    .arg(QString::fromLocal8Bit(driver.readAllStandardError()))));
            driver.kill();  // SIGKILL
            QVERIFY(driver.waitForFinished(30000));
            readLines();
            QCOMPARE(driver.exitStatus(), QProcess::CrashExit);
            if (recovered >= 0) {
                // The start-up marked the previous run's streaming answer interrupted.
                QCOMPARE(recovered, interruptedBefore);
                ++recoveredChecked;
            }

            ConversationStore store;
            QVERIFY2(store.open(db), qPrintable(store.lastError()));
            QCOMPARE(store.integrityCheck(), QStringLiteral("ok"));
            QHash<qint64, ConversationStore::Message> all;
            int streaming = 0, interrupted = 0;
            for (const auto& conv : store.listConversations()) {
                for (const auto& m : store.messages(conv.id)) {
                    all.insert(m.id, m);
                    streaming += m.state == ConversationStore::State::Streaming;
                    interrupted += m.state == ConversationStore::State::Interrupted;
                }
            }
            for (auto it = committed.cbegin(); it != committed.cend(); ++it) {
                QVERIFY2(all.contains(it.key()), qPrintable(QStringLiteral("run %1: message %2 lost").arg(run).arg(it.key())));
                const QString& content = all.value(it.key()).content;
                const QByteArray sha1 =
                    QCryptographicHash::hash(content.left(it->length).toUtf8(), QCryptographicHash::Sha1).toHex();
                QVERIFY2(content.size() >= it->length && sha1 == it->sha1,
                         qPrintable(QStringLiteral("run %1: message %2 holds %3 chars, %4 were reported committed")
                                        .arg(run)
                                        .arg(it.key())
                                        .arg(content.size())
                                        .arg(it->length)));
            }
            // Earlier runs' answers were recovered at each start; only this run's can be open.
            QVERIFY2(streaming <= 1, qPrintable(QStringLiteral("run %1: %2 answers streaming").arg(run).arg(streaming)));
            killedMidAnswer += streaming;
            interruptedBefore = interrupted + streaming;
        }
        qInfo("%d kills: %d mid-answer, %lld messages reported committed, %d start-up recoveries checked", runs,
              killedMidAnswer, static_cast<long long>(committed.size()), recoveredChecked);
        QVERIFY(killedMidAnswer > 0);
        QVERIFY(recoveredChecked > 0);

        // The next start-up (the store's recovery, as AppServices runs it) leaves nothing open.
        ConversationStore store;
        QVERIFY2(store.open(db), qPrintable(store.lastError()));
        QVERIFY(store.recoverInterrupted() >= 0);
        int interrupted = 0;
        for (const auto& conv : store.listConversations())
            for (const auto& m : store.messages(conv.id)) {
                QVERIFY(m.state != ConversationStore::State::Streaming);
                interrupted += m.state == ConversationStore::State::Interrupted;
            }
        QCOMPARE(interrupted, interruptedBefore);
    }
};

QTEST_GUILESS_MAIN(TestChatCrash)
#include "test-chat-crash.moc"
