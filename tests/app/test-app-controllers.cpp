// The controllers with the real engine on the tiny fixture: send → stream → stop →
// regenerate → edit → branch flips, durability (user message committed before the
// answer), the context banner, delete/undo/search/export/import, a locked database, the
// KV presets' numbers against hand-computed sizes and the engine's own report, custom
// bits, profiling from the UI (self-generated, text files, past conversations), the KV
// quality check, and a summary that becomes a conversation.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSemaphore>
#include <QSettings>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include "app-test-support.h"
#include "core/chat-controller.h"
#include "core/conversation-store.h"
#include "core/document-reader.h"
#include "core/inference-worker.h"
#include "core/kv-controller.h"
#include "core/launch-options.h"
#include "core/model-controller.h"
#include "core/summary-controller.h"

namespace {

struct Fixture {
    QTemporaryDir dir;
    ConversationStore store;
    InferenceThread thread;
    KvController kv;
    ChatController chat;
    ModelController models;
    SummaryController summary;

    Fixture()
        : kv(&thread),
          chat(openStore(store, dir.filePath(QStringLiteral("chats.sqlite"))), &thread),
          models(&thread, &kv),
          summary(&thread, &chat, &kv) {
        chat.setKvChoiceProvider([this] { return kv.currentChoice(); });
        chat.setModelPathProvider([this] { return models.modelPath(); });
        QObject::connect(thread.worker(), &InferenceWorker::memoryChanged, &kv, &KvController::onMemoryChanged);
    }
    static ConversationStore* openStore(ConversationStore& s, const QString& path) {
        ConversationStore::OpenOptions o;
        o.busyTimeoutMs = 100;
        s.open(path, o);
        return &s;
    }
    bool load() {
        QSignalSpy ready(&models, &ModelController::modelReady);
        models.load(fixtureModel());
        return waitFor(ready);
    }
    GenerationOutcome waitAnswer() {
        QSignalSpy done(&chat, &ChatController::generationFinished);
        if (!waitFor(done)) return {};
        return done.first().at(0).value<GenerationOutcome>();
    }
    const MessageListModel::Row& row(int i) { return chat.messages()->rows().at(i); }
};

}  // namespace

class TestAppControllers : public QObject {
    Q_OBJECT
    std::unique_ptr<Fixture> f;
    QTemporaryDir m_data;  // the user data folder (stored profiles) for this run

private slots:
    void initTestCase() {
        qputenv("XDG_DATA_HOME", m_data.path().toLocal8Bit());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("kvmix-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test-app-controllers"));
    }
    void init() {
        QSettings().clear();
        f = std::make_unique<Fixture>();
        QVERIFY(f->store.isOpen());
        QVERIFY(f->load());
        f->chat.setSampling({{QStringLiteral("temperature"), 0.0},
                             {QStringLiteral("repeat_penalty"), 1.0},
                             {QStringLiteral("max_tokens"), 16},
                             {QStringLiteral("context_length"), 256}});
        f->kv.setPreset(QStringLiteral("fp16"));
    }
    void cleanup() { f.reset(); }

    void sendCommitsFirstThenStreams() {
        QSignalSpy busy(&f->chat, &ChatController::busyChanged);
        QVERIFY(f->chat.send(QStringLiteral("Hello model")));
        QVERIFY(f->chat.busy());
        // Before any answer arrives the user message is in the database, committed.
        const qint64 conv = f->chat.currentConversationId();
        QVERIFY(conv != 0);
        auto path = f->store.activePath(conv);
        QCOMPARE(path.size(), 2);
        QCOMPARE(path[0].content, QStringLiteral("Hello model"));
        QCOMPARE(path[0].state, ConversationStore::State::Complete);
        QCOMPARE(path[1].state, ConversationStore::State::Streaming);

        const GenerationOutcome o = f->waitAnswer();
        QVERIFY2(!o.failed(), qPrintable(o.error));
        QVERIFY(!f->chat.busy());
        path = f->store.activePath(conv);
        QCOMPARE(path[1].state, ConversationStore::State::Complete);
        QCOMPARE(path[1].content, o.text);
        QCOMPARE(path[1].tokens, static_cast<int>(o.generated));
        QCOMPARE(f->chat.messages()->count(), 2);
        QCOMPARE(f->row(1).message.content, o.text);
        QCOMPARE(f->chat.conversations()->count(), 1);
        QCOMPARE(f->chat.conversations()->rows().first().title, QStringLiteral("Hello model"));
        QVERIFY(path[1].stats.value(QStringLiteral("ttft_s")).toDouble() > 0);
        // The memory panel saw the conversation's tokens.
        // The session holds the prompt and the answer (the last sampled token is not yet evaluated).
        const qint64 inContext = f->kv.memory().value(QStringLiteral("tokens")).toLongLong();
        QVERIFY2(inContext >= o.promptTokens + o.generated - 1 && inContext <= o.promptTokens + o.generated,
                 qPrintable(QStringLiteral("%1 vs %2 + %3").arg(inContext).arg(o.promptTokens).arg(o.generated)));
        QVERIFY(!f->kv.history().isEmpty());
    }

    void stopMarksTheAnswerStopped() {
        QSemaphore gate;
        f->thread.post([&gate](InferenceWorker*) { gate.acquire(); });
        QVERIFY(f->chat.send(QStringLiteral("Stop me")));
        f->chat.stop();
        gate.release();
        const GenerationOutcome o = f->waitAnswer();
        QCOMPARE(o.reason, QStringLiteral("cancelled"));
        const auto path = f->store.activePath(f->chat.currentConversationId());
        QCOMPARE(path.size(), 2);
        QCOMPARE(path[1].state, ConversationStore::State::Stopped);
        QCOMPARE(f->chat.statusText(), QStringLiteral("Stopped"));
    }

    void streamingAnswerIsCheckpointed() {
        // Every piece of text reaches the database while the answer streams: hold the worker
        // after its third piece and look at the stored row before the answer finishes.
        InferenceWorker* w = f->thread.worker();
        w->setCoalesceIntervalMs(0);
        f->chat.setCheckpointIntervalMs(0);
        f->chat.setSampling({{QStringLiteral("max_tokens"), 60}, {QStringLiteral("context_policy"), QStringLiteral("rolling")}});
        QSemaphore hold;
        QAtomicInt pieces = 0;
        auto conn = connect(w, &InferenceWorker::tokensGenerated, w, [&](int id, qint64, const QString&) {
            if (++pieces == 3) {
                w->stop(id);
                hold.acquire();
            }
        }, Qt::DirectConnection);
        QVERIFY(f->chat.send(QStringLiteral("Write a long story about a lighthouse")));
        const qint64 conv = f->chat.currentConversationId();
        auto stored = [&] {
            const auto path = f->store.activePath(conv);
            return path.size() == 2 ? path[1] : ConversationStore::Message{};
        };
        bool sawCheckpoint = false;
        for (int i = 0; i < 200 && !sawCheckpoint; ++i) {
            QTest::qWait(20);
            sawCheckpoint = pieces.loadRelaxed() >= 3 && !stored().content.isEmpty() &&
                            stored().content == f->row(1).message.content;
        }
        const ConversationStore::Message partial = stored();
        hold.release();
        disconnect(conn);
        const GenerationOutcome o = f->waitAnswer();
        QVERIFY2(sawCheckpoint, qPrintable(QStringLiteral("pieces %1, stored '%2'").arg(pieces.loadRelaxed()).arg(partial.content)));
        QCOMPARE(partial.state, ConversationStore::State::Streaming);
        QVERIFY(o.text.startsWith(partial.content));
        QCOMPARE(stored().state, ConversationStore::State::Stopped);
    }

    void regenerateEditAndFlipBranches() {
        QVERIFY(f->chat.send(QStringLiteral("Hi")));
        f->waitAnswer();
        const qint64 userA = f->row(0).message.id;
        const qint64 answerA = f->row(1).message.id;

        QVERIFY(f->chat.regenerate());
        f->waitAnswer();
        QCOMPARE(f->chat.messages()->count(), 2);
        const qint64 answerB = f->row(1).message.id;
        QVERIFY(answerB != answerA);
        QCOMPARE(f->row(1).siblingCount, 2);
        QCOMPARE(f->row(1).siblingIndex, 1);

        QVERIFY(f->chat.flipSibling(answerB, -1));
        QCOMPARE(f->row(1).message.id, answerA);
        QCOMPARE(f->row(1).siblingIndex, 0);
        QVERIFY(!f->chat.flipSibling(answerA, -1));  // no earlier version

        // Editing the user message starts a branch with its own answer.
        QVERIFY(f->chat.editMessage(userA, QStringLiteral("Hi again")));
        f->waitAnswer();
        QCOMPARE(f->chat.messages()->count(), 2);
        QCOMPARE(f->row(0).message.content, QStringLiteral("Hi again"));
        QCOMPARE(f->row(0).siblingCount, 2);
        QCOMPARE(f->row(0).siblingIndex, 1);
        const qint64 answerC = f->row(1).message.id;
        QVERIFY(answerC != answerA && answerC != answerB);

        // Back to the first branch: its newest answer (B) is shown.
        QVERIFY(f->chat.flipSibling(f->row(0).message.id, -1));
        QCOMPARE(f->row(0).message.id, userA);
        QCOMPARE(f->row(1).message.id, answerB);
        QCOMPARE(f->store.messages(f->chat.currentConversationId()).size(), 5);
        QCOMPARE(f->chat.lastUserMessageId(), userA);
    }

    void truncationShowsTheBanner() {
        f->chat.setSampling({{QStringLiteral("max_tokens"), 8}});
        const QString longText = QString(QStringLiteral("word after word after word ")).repeated(120);
        QVERIFY(f->chat.send(longText));
        const GenerationOutcome o = f->waitAnswer();
        QVERIFY2(!o.failed(), qPrintable(o.error));
        QVERIFY(o.truncated);
        QVERIFY(o.tokensDropped > 0);
        QVERIFY(f->chat.contextBanner().contains(QString::number(o.tokensDropped)));
        f->chat.dismissBanner();
        QVERIFY(f->chat.contextBanner().isEmpty());
    }

    void busyRefusesASecondRequest() {
        QSemaphore gate;
        f->thread.post([&gate](InferenceWorker*) { gate.acquire(); });
        QVERIFY(f->chat.send(QStringLiteral("first")));
        QVERIFY(!f->chat.send(QStringLiteral("second")));
        QVERIFY(!f->chat.lastError().isEmpty());
        gate.release();
        f->waitAnswer();
        QCOMPARE(f->store.messages(f->chat.currentConversationId()).size(), 2);
    }

    void deleteUndoSearchExportImport() {
        QVERIFY(f->chat.send(QStringLiteral("zebras are striped")));
        f->waitAnswer();
        const qint64 zebra = f->chat.currentConversationId();
        f->chat.newConversation();
        QVERIFY(f->chat.send(QStringLiteral("giraffes are tall")));
        f->waitAnswer();
        QCOMPARE(f->chat.conversations()->count(), 2);
        // Newest activity first.
        QCOMPARE(f->chat.conversations()->rows().first().id, f->chat.currentConversationId());

        f->chat.setSearchQuery(QStringLiteral("zebra"));
        QCOMPARE(f->chat.conversations()->count(), 1);
        QCOMPARE(f->chat.conversations()->rows().first().id, zebra);
        f->chat.setSearchQuery(QString());

        QVERIFY(f->chat.deleteConversation(zebra));
        QCOMPARE(f->chat.conversations()->count(), 1);
        QVERIFY(f->chat.canUndoDelete());
        QVERIFY(f->chat.undoDelete());
        QCOMPARE(f->chat.conversations()->count(), 2);
        QCOMPARE(f->chat.currentConversationId(), zebra);

        const QString json = f->dir.filePath(QStringLiteral("zebra.json"));
        const QString md = f->dir.filePath(QStringLiteral("zebra.md"));
        QVERIFY(f->chat.exportConversation(zebra, QUrl::fromLocalFile(json).toString(), QStringLiteral("json")));
        QVERIFY(f->chat.exportConversation(zebra, md, QStringLiteral("markdown")));
        QFile mdFile(md);
        QVERIFY(mdFile.open(QIODevice::ReadOnly));
        QVERIFY(mdFile.readAll().contains("zebras are striped"));
        QVERIFY(f->chat.importConversation(json));
        QCOMPARE(f->chat.conversations()->count(), 3);
        QVERIFY(f->chat.currentConversationId() != zebra);
        QCOMPARE(f->chat.messages()->count(), 2);
        QCOMPARE(f->row(0).message.content, QStringLiteral("zebras are striped"));
        QVERIFY(!f->chat.importConversation(f->dir.filePath(QStringLiteral("missing.json"))));
        QVERIFY(f->chat.lastError().contains(QStringLiteral("missing.json")));
    }

    void lockedDatabaseGivesAClearMessage() {
        {
            QSqlDatabase locker = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), QStringLiteral("locker"));
            locker.setDatabaseName(f->store.path());
            QVERIFY(locker.open());
            QSqlQuery q(locker);
            QVERIFY(q.exec(QStringLiteral("BEGIN IMMEDIATE")));
            QVERIFY(!f->chat.send(QStringLiteral("will not be saved")));
            QVERIFY2(f->chat.lastError().contains(QStringLiteral("locked")), qPrintable(f->chat.lastError()));
            QVERIFY(!f->chat.busy());
            QVERIFY(q.exec(QStringLiteral("ROLLBACK")));
            locker.close();
        }
        QSqlDatabase::removeDatabase(QStringLiteral("locker"));
        QVERIFY(f->chat.send(QStringLiteral("now it works")));
        f->waitAnswer();
    }

    void presetNumbersMatchHandComputedSizes() {
        // tiny-llama: 2 layers, 2 KV heads of 16 dims for K and V.
        const QVariantList presets = f->kv.presets();
        QCOMPARE(presets.size(), 5);
        QCOMPARE(presets[0].toMap().value(QStringLiteral("key")).toString(), QStringLiteral("fp16"));
        QCOMPARE(presets[0].toMap().value(QStringLiteral("rotation")).toString(), QStringLiteral("none"));
        QCOMPARE(presets[3].toMap().value(QStringLiteral("key")).toString(), QStringLiteral("compact"));
        QCOMPARE(presets[3].toMap().value(QStringLiteral("rotation")).toString(), QStringLiteral("both"));
        QCOMPARE(presets[3].toMap().value(QStringLiteral("groupSize")).toInt(), 64);
        QCOMPARE(presets[0].toMap().value(QStringLiteral("bytesPerToken")).toDouble(), 2.0 * 2 * (16 + 16) * 2);
        QCOMPARE(f->kv.tokensThatFit(QStringLiteral("fp16"), 1024.0 * 1024.0), qint64(4096));
        // compact = uniform k2v2 until profiled, with the compact preset's storage: G = 64 and a
        // fixed fp16 window of 64 tokens (ratio 0, W_min 64). Keys: 2.5 bits/element (2 + 32/G);
        // 4 fp16 sinks; groups of 64 are quantized while the fp16 tail exceeds window + 64:
        // 10000 - 4 - 128 = 9868 -> 9920 quantized tokens, stored in pages of 4 groups (256
        // tokens) -> 9984 (39 pages). Values: head size 16 is not a multiple of G, so fp16.
        const double elems = 2 * 16;
        const double keys = (10000 - 9920) * elems * 2 + 9984 * elems * 2.5 / 8;
        const double values = 10000 * elems * 2;
        QCOMPARE(f->kv.estimateBytes(QStringLiteral("compact"), 10000), 2 * (keys + values));
        QVERIFY(f->kv.presetNote().contains(QStringLiteral("16-bit")));
        f->kv.setPreset(QStringLiteral("compact"));
        QVERIFY(f->kv.presetNote().contains(QStringLiteral("Not profiled yet")));
        QCOMPARE(f->kv.currentChoice().spec, QStringLiteral("k2v2"));
        const QVariantList layers = f->kv.layers();
        QCOMPARE(layers.size(), 2);
        QCOMPARE(layers[0].toMap().value(QStringLiteral("kBits")).toInt(), 2);
        QCOMPARE(layers[0].toMap().value(QStringLiteral("kImportance")).toDouble(), -1.0);
    }

    void estimateAgreesWithTheEnginesReport() {
        f->kv.setPreset(QStringLiteral("compact"));
        f->chat.setSampling({{QStringLiteral("max_tokens"), 32}});
        QVERIFY(f->chat.send(QString(QStringLiteral("a b c d e f g h ")).repeated(20)));
        const GenerationOutcome o = f->waitAnswer();
        QVERIFY2(!o.failed(), qPrintable(o.error));
        const QVariantMap m = f->kv.memory();
        const qint64 tokens = m.value(QStringLiteral("tokens")).toLongLong();
        const double actual = m.value(QStringLiteral("kvBytes")).toDouble();
        QVERIFY(tokens > 64);
        QVERIFY(actual < m.value(QStringLiteral("kvFp16Bytes")).toDouble());
        QVERIFY(m.value(QStringLiteral("ratio")).toDouble() > 1.0);
        // The estimate follows the cache's aging and page rules: exact for a cache filled
        // token by token (prefill in one chunk ages the same way at commit).
        const double estimate = f->kv.estimateBytes(QStringLiteral("compact"), tokens);
        QCOMPARE(estimate, actual);
    }

    void customBitsAndStoredProfiles() {
        f->kv.setPreset(QStringLiteral("balanced"));
        f->kv.setCustomBits(1, 8, 4);
        QCOMPARE(f->kv.preset(), QStringLiteral("custom"));
        const auto [k, v] = KvController::uniformFallback(QStringLiteral("balanced"));
        QCOMPARE(f->kv.currentChoice().layerBits, (QVector<int>{k, v, 8, 4}));
        f->kv.setCustomBits(0, 5, 4);  // not a supported width: ignored
        QCOMPARE(f->kv.currentChoice().layerBits, (QVector<int>{k, v, 8, 4}));
        QVERIFY(f->chat.send(QStringLiteral("custom bits")));
        QVERIFY(!f->waitAnswer().failed());

        // Profiling from the UI: the importance analysis runs on the worker, is stored, and
        // the presets then follow the scores (the higher-scored layer never gets fewer bits).
        QVERIFY(f->kv.canProfile());
        QSignalSpy profiled(&f->kv, &KvController::profilingFinished);
        QVERIFY(f->kv.startProfiling(2, 32));
        QVERIFY(f->kv.profiling());
        QVERIFY(waitFor(profiled, 1, 120000));
        const auto outcome = profiled.first().at(0).value<ProfilingOutcome>();
        QVERIFY2(outcome.reason == QLatin1String("complete"), qPrintable(outcome.error));
        QVERIFY(outcome.profile.path.startsWith(m_data.path()));
        f->kv.setPreset(QStringLiteral("high"));
        QVERIFY(f->kv.profiled());
        QVERIFY(f->kv.presets()[1].toMap().value(QStringLiteral("profiled")).toBool());
        const QVariantList layers = f->kv.layers();
        QCOMPARE(layers.size(), 2);
        const auto l0 = layers[0].toMap();
        const auto l1 = layers[1].toMap();
        QVERIFY(l0.value(QStringLiteral("kImportance")).toDouble() > 0);
        const bool firstMoreImportant = l0.value(QStringLiteral("kImportance")).toDouble() >= l1.value(QStringLiteral("kImportance")).toDouble();
        const int kHi = (firstMoreImportant ? l0 : l1).value(QStringLiteral("kBits")).toInt();
        const int kLo = (firstMoreImportant ? l1 : l0).value(QStringLiteral("kBits")).toInt();
        QVERIFY2(kHi >= kLo, qPrintable(QStringLiteral("%1 < %2").arg(kHi).arg(kLo)));
        QCOMPARE(f->kv.currentChoice().layerBits.size(), 4);
        QVERIFY(f->chat.send(QStringLiteral("profiled")));
        QVERIFY(!f->waitAnswer().failed());

        // A fresh load finds the stored profile again.
        QVERIFY(f->load());
        QVERIFY(f->kv.profiled());
    }

    void profilingFromFilesAndConversations() {
        const QString path = f->dir.filePath(QStringLiteral("calib.txt"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QString(QStringLiteral("Permission is granted to copy and distribute verbatim copies of this document. ")).repeated(8).toUtf8());
        file.close();
        QSignalSpy profiled(&f->kv, &KvController::profilingFinished);
        QVERIFY(!f->kv.startProfilingFromFiles({f->dir.filePath(QStringLiteral("missing.txt"))}, 32));
        QVERIFY(f->kv.profilingText().contains(QStringLiteral("missing.txt")));
        QVERIFY(f->kv.startProfilingFromFiles({QUrl::fromLocalFile(path)}, 32));
        QVERIFY(waitFor(profiled, 1, 120000));
        auto outcome = profiled.last().at(0).value<ProfilingOutcome>();
        QVERIFY2(outcome.reason == QLatin1String("complete"), qPrintable(outcome.error));
        QCOMPARE(outcome.profile.calibrationSources, QStringList{QStringLiteral("text")});
        QCOMPARE(outcome.profile.calibrationFiles, QStringList{QStringLiteral("calib.txt")});
        QVERIFY2(f->kv.profilingText().contains(QStringLiteral("calib.txt")), qPrintable(f->kv.profilingText()));

        // Past conversations: the stored messages' text, nothing self-generated.
        QVERIFY(!f->kv.startProfilingFromConversations({}, 32));
        QVERIFY(f->chat.send(QString(QStringLiteral("Tell me about the license terms and conditions. ")).repeated(4)));
        QVERIFY(!f->waitAnswer().failed());
        const QStringList texts = f->chat.storedConversationTexts();
        QCOMPARE(texts.size(), 1);
        QVERIFY(texts.first().startsWith(QStringLiteral("Tell me about")));
        QCOMPARE(f->chat.conversationText(), texts.first());
        QVERIFY(f->kv.startProfilingFromConversations(texts, 32));
        QVERIFY(waitFor(profiled, 2, 120000));
        outcome = profiled.last().at(0).value<ProfilingOutcome>();
        QVERIFY2(outcome.reason == QLatin1String("complete"), qPrintable(outcome.error));
        QCOMPARE(outcome.profile.calibrationSources, QStringList{QStringLiteral("conversations")});
        QVERIFY(outcome.profile.calibrationFiles.isEmpty());
        QVERIFY(f->kv.profilingText().contains(QStringLiteral("conversations")));
    }

    void qualityCheckFromTheController() {
        f->kv.setPreset(QStringLiteral("compact"));  // uniform K2 V2 until profiled
        f->kv.setQualityLimits(1024, 64);
        QString text;
        for (int i = 0; i < 12; ++i)
            text += QStringLiteral("Clause %1: the work is provided on an as-is basis, without warranties or conditions of any kind. ").arg(i);
        QSignalSpy done(&f->kv, &KvController::qualityFinished);
        QVERIFY(!f->kv.startQualityCheck(QStringLiteral("  "), QStringLiteral("empty")));
        QVERIFY(f->kv.startQualityCheck(text, QStringLiteral("sample")));
        QVERIFY(f->kv.checking());
        QVERIFY(!f->kv.startQualityCheck(text, QStringLiteral("again")));  // one at a time
        QVERIFY(waitFor(done, 1, 120000));
        const auto o = done.last().at(0).value<QualityOutcome>();
        QVERIFY2(o.reason == QLatin1String("complete"), qPrintable(o.error));
        QVERIFY(!f->kv.checking());
        const QVariantMap r = f->kv.checkResult();
        QCOMPARE(r.value(QStringLiteral("preset")).toString(), QStringLiteral("compact"));
        QCOMPARE(r.value(QStringLiteral("source")).toString(), QStringLiteral("sample"));
        QCOMPARE(r.value(QStringLiteral("scored")).toLongLong(), o.scored);
        QCOMPARE(r.value(QStringLiteral("perplexity")).toDouble(), o.perplexity);
        QCOMPARE(r.value(QStringLiteral("fp16Perplexity")).toDouble(), o.fp16Perplexity);
        QCOMPARE(r.value(QStringLiteral("delta")).toDouble(), o.perplexity - o.fp16Perplexity);
        QCOMPARE(r.value(QStringLiteral("deltaPercent")).toDouble(), 100.0 * (o.perplexity - o.fp16Perplexity) / o.fp16Perplexity);
        QCOMPARE(r.value(QStringLiteral("meanKl")).toDouble(), o.meanKl);
        QVERIFY(o.meanKl > 0);
        QVERIFY(f->kv.checkText().contains(QStringLiteral("compact")));

        // The same check on the fp16 preset, from a file: no difference at all.
        const QString path = f->dir.filePath(QStringLiteral("sample.md"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(text.toUtf8());
        file.close();
        f->kv.setPreset(QStringLiteral("fp16"));
        QVERIFY(f->kv.startQualityCheckFile(QUrl::fromLocalFile(path).toString()));
        QVERIFY(waitFor(done, 2, 120000));
        QCOMPARE(f->kv.checkResult().value(QStringLiteral("source")).toString(), QStringLiteral("sample.md"));
        QCOMPARE(f->kv.checkResult().value(QStringLiteral("delta")).toDouble(), 0.0);
        QCOMPARE(f->kv.checkResult().value(QStringLiteral("meanKl")).toDouble(), 0.0);
        QCOMPARE(f->kv.checkResult().value(QStringLiteral("fp16Perplexity")).toDouble(), o.fp16Perplexity);

        // Cancelled from the controller: no new result. The worker is held until the cancel
        // is in, so the check cannot finish first.
        f->kv.setPreset(QStringLiteral("compact"));
        f->kv.setQualityLimits(1024, 16);
        QSemaphore gate;
        f->thread.post([&gate](InferenceWorker*) { gate.acquire(); });
        QVERIFY(f->kv.startQualityCheck(text, QStringLiteral("sample")));
        f->kv.cancelQualityCheck();
        gate.release();
        QVERIFY(waitFor(done, 3, 120000));
        const auto c = done.last().at(0).value<QualityOutcome>();
        QCOMPARE(c.reason, QStringLiteral("cancelled"));
        QCOMPARE(f->kv.checkResult().value(QStringLiteral("preset")).toString(), QStringLiteral("fp16"));
        QVERIFY(f->kv.checkText().contains(QStringLiteral("cancelled")));
    }

    void summaryBecomesAConversation() {
        f->summary.setDocument(QStringLiteral("doc.txt"),
                               QString(QStringLiteral("The quick brown fox jumps over the lazy dog. ")).repeated(10));
        QSignalSpy done(&f->summary, &SummaryController::finished);
        QVERIFY(f->summary.summarize());
        QVERIFY(f->summary.busy());
        QVERIFY(waitFor(done, 1, 120000));
        const auto o = done.first().at(0).value<SummaryOutcome>();
        // Greedy decoding (init() sets temperature 0): the same non-empty summary every run.
        QVERIFY2(o.reason == QLatin1String("complete"), qPrintable(o.reason + ": " + o.error));
        QVERIFY(!o.summary.isEmpty());
        QVERIFY(!f->summary.resultInfo().isEmpty());
        QCOMPARE(f->chat.currentTitle(), QStringLiteral("Summary: doc.txt"));
        QCOMPARE(f->chat.messages()->count(), 2);
        QCOMPARE(f->row(1).message.content, o.summary);
    }

    void documentReaderErrors() {
        QString text;
        QString err;
        const QString txt = f->dir.filePath(QStringLiteral("a.md"));
        QFile t(txt);
        QVERIFY(t.open(QIODevice::WriteOnly));
        t.write("# Title\n\nsome text\n");
        t.close();
        QVERIFY(readDocumentText(txt, &text, &err));
        QCOMPARE(text, QStringLiteral("# Title\n\nsome text\n"));
        const QString bin = f->dir.filePath(QStringLiteral("b.txt"));
        QFile b(bin);
        QVERIFY(b.open(QIODevice::WriteOnly));
        b.write(QByteArray("ab\0cd", 5));
        b.close();
        QVERIFY(!readDocumentText(bin, &text, &err));
        QVERIFY(err.contains(QStringLiteral("b.txt")));
        QVERIFY(!readDocumentText(f->dir.filePath(QStringLiteral("none.txt")), &text, &err));
        QVERIFY(!f->summary.openDocument(f->dir.filePath(QStringLiteral("none.pdf"))));
        QVERIFY(!f->summary.error().isEmpty());
    }

    // The model picker lists the models folder: the default first, known models by their
    // short names, other .gguf files by file name; a loaded known model shows its short name.
    void installedModelsListTheModelsFolder() {
        const QString dir = m_data.filePath(QStringLiteral("kvmix/models"));
        QVERIFY(QDir().mkpath(dir));
        const QString def = dir + QStringLiteral("/smollm2-135m-instruct-q4_1.gguf");
        const QString mine = dir + QStringLiteral("/a-model-of-mine.gguf");
        for (const QString& p : {def, mine}) {
            QFile::remove(p);
            QVERIFY(QFile::copy(fixtureModel(), p));
        }
        QFile(dir + QStringLiteral("/notes.txt")).open(QIODevice::WriteOnly);
        qunsetenv("KVMIX_DEFAULT_MODEL");
        QSignalSpy changed(&f->models, &ModelController::installedModelsChanged);
        f->models.refreshInstalledModels();
        QCOMPARE(changed.count(), 1);
        const QVariantList list = f->models.installedModels();
        QCOMPARE(list.size(), 2);
        QCOMPARE(list[0].toMap().value(QStringLiteral("name")).toString(), QStringLiteral("smollm2-135m-instruct"));
        QCOMPARE(list[0].toMap().value(QStringLiteral("path")).toString(), def);
        QVERIFY(list[0].toMap().value(QStringLiteral("isDefault")).toBool());
        QVERIFY(!list[0].toMap().value(QStringLiteral("description")).toString().isEmpty());
        QCOMPARE(list[1].toMap().value(QStringLiteral("name")).toString(), QStringLiteral("a-model-of-mine"));
        QVERIFY(!list[1].toMap().value(QStringLiteral("isDefault")).toBool());
        f->models.refreshInstalledModels();
        QCOMPARE(changed.count(), 1);  // nothing changed, no signal

        QSignalSpy ready(&f->models, &ModelController::modelReady);
        f->models.loadDefault();
        QVERIFY(waitFor(ready));
        QCOMPARE(f->models.modelPath(), def);
        QCOMPARE(f->models.displayName(), QStringLiteral("smollm2-135m-instruct"));
        QFile::remove(def);
        QFile::remove(mine);
    }

    // kvmix-chat FILE...: models and documents by type, everything else reported.
    void launchOptionsSortTheCommandLine() {
        const QString gguf = f->dir.filePath(QStringLiteral("m.gguf"));
        const QString gguf2 = f->dir.filePath(QStringLiteral("n.GGUF"));
        const QString md = f->dir.filePath(QStringLiteral("notes.md"));
        const QString odd = f->dir.filePath(QStringLiteral("image.png"));
        for (const QString& p : {gguf, gguf2, md, odd}) QFile(p).open(QIODevice::WriteOnly);
        const QString folder = f->dir.filePath(QStringLiteral("hf-model"));
        QVERIFY(QDir().mkpath(folder));
        const QString app = QStringLiteral("kvmix-chat");

        LaunchOptions o = LaunchOptions::parse({app, md, gguf});
        QVERIFY(o.action == LaunchOptions::Action::run);
        QCOMPARE(o.model, gguf);
        QCOMPARE(o.document, md);
        QVERIFY(o.errors.isEmpty());

        o = LaunchOptions::parse({app, folder, gguf2, odd, f->dir.filePath(QStringLiteral("missing.pdf")), QStringLiteral("--no-model")});
        QCOMPARE(o.model, folder);
        QVERIFY(o.document.isEmpty());
        QVERIFY(o.noModel);
        QCOMPARE(o.errors.size(), 3);
        QVERIFY(o.errors[0].contains(QStringLiteral("only one model")));
        QVERIFY(o.errors[1].contains(QStringLiteral("not a model")));
        QVERIFY(o.errors[2].contains(QStringLiteral("no such file")));

        o = LaunchOptions::parse({app, QStringLiteral("--help")});
        QVERIFY(o.action == LaunchOptions::Action::help);
        QVERIFY(o.output.contains(QStringLiteral("--no-model")) && o.output.contains(QStringLiteral("[FILE...]")));
        QVERIFY(o.output.startsWith(QStringLiteral("Usage: ")) && !o.output.contains(QStringLiteral("<executable_name>")));
        QVERIFY(LaunchOptions::parse({app, QStringLiteral("--version")}).action == LaunchOptions::Action::version);
        o = LaunchOptions::parse({app, QStringLiteral("--bogus")});
        QVERIFY(o.action == LaunchOptions::Action::usageError);
        QVERIFY(o.output.contains(QStringLiteral("bogus")));
        QVERIFY(LaunchOptions::parse({app, QStringLiteral("--startup-time")}).measureStartup);
    }
};

QTEST_GUILESS_MAIN(TestAppControllers)
#include "test-app-controllers.moc"
