// GUI smoke test (offscreen platform): the main QML loads without a single QML warning,
// the key views exist, and a message sent through the chat controller with the tiny
// fixture model shows up in the QML message list together with the memory numbers; the
// KV quality check's result reaches the layer view and the profiling dialog opens; a chat
// reopened without its cache in memory says so in the memory panel.
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include "gui/app-services.h"

class TestGuiSmoke : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("kvmix-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test-gui-smoke"));
    }

    void mainWindowLoadsAndChats() {
        QTemporaryDir dir;
        AppServices services(dir.filePath(QStringLiteral("chats.sqlite")));
        QCOMPARE(services.startupError(), QString());
        QQmlApplicationEngine engine;
        QList<QQmlError> warnings;
        connect(&engine, &QQmlEngine::warnings, this, [&](const QList<QQmlError>& w) { warnings += w; });
        services.expose(engine.rootContext());
        engine.load(QUrl(QStringLiteral("qrc:/qml/Main.qml")));
        QCOMPARE(engine.rootObjects().size(), 1);
        auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
        QVERIFY(window);
        QCOMPARE(window->objectName(), QStringLiteral("mainWindow"));
        for (const char* name : {"sidebar", "conversationList", "searchField", "newChatButton", "chatView", "messageList",
                                 "composer", "sendButton", "modelPicker", "presetSelector", "memoryPanel", "memoryChart",
                                 "layerView", "layerGrid", "summarizePage", "openDocumentButton", "summarizeButton",
                                 "contextBanner", "settingsDialog", "qualityButton", "profileDialog"}) {
            QVERIFY2(window->findChild<QObject*>(QLatin1String(name)), name);
        }
        QVERIFY(QTest::qWaitForWindowExposed(window));

        // Without a model the send button is disabled and the chat says why; the memory panel
        // has no token counts to give.
        auto* send = window->findChild<QQuickItem*>(QStringLiteral("sendButton"));
        QVERIFY(!send->isEnabled());
        auto* budgetLeft = window->findChild<QObject*>(QStringLiteral("budgetLeftValue"));
        QVERIFY(budgetLeft);
        QCOMPARE(budgetLeft->property("text").toString(), QStringLiteral("–"));
        services.kv.setPreset(QStringLiteral("balanced"));
        QVERIFY2(services.kv.presetNote().startsWith(QStringLiteral("Load a model")), qPrintable(services.kv.presetNote()));

        QSignalSpy ready(&services.models, &ModelController::modelReady);
        services.models.load(QStringLiteral(KVMIX_TEST_DATA_DIR "/models/tiny-llama-q8_0.gguf"));
        QVERIFY(ready.wait(60000));
        services.chat.setSampling({{QStringLiteral("temperature"), 0.0}, {QStringLiteral("max_tokens"), 8},
                                   {QStringLiteral("context_length"), 256}});
        QSignalSpy done(&services.chat, &ChatController::generationFinished);
        QVERIFY(services.chat.send(QStringLiteral("Hello from the smoke test")));
        QVERIFY(done.wait(60000));
        auto* list = window->findChild<QObject*>(QStringLiteral("messageList"));
        QTRY_COMPARE(list->property("count").toInt(), 2);
        auto* conversations = window->findChild<QObject*>(QStringLiteral("conversationList"));
        QTRY_COMPARE(conversations->property("count").toInt(), 1);
        auto* weights = window->findChild<QObject*>(QStringLiteral("weightsValue"));
        QVERIFY(weights);
        QVERIFY2(weights->property("text").toString() != QStringLiteral("0 B"), qPrintable(weights->property("text").toString()));
        QTRY_VERIFY2(budgetLeft->property("text").toString() != QStringLiteral("–"), qPrintable(budgetLeft->property("text").toString()));
        auto* grid = window->findChild<QObject*>(QStringLiteral("layerGrid"));
        QTRY_COMPARE(grid->property("count").toInt(), 2);  // the fixture's two layers

        // The quality check's result reaches its label; the profiling dialog opens cleanly.
        QSignalSpy checked(&services.kv, &KvController::qualityFinished);
        QVERIFY(services.kv.startQualityCheck(QString(QStringLiteral("A sample sentence for the quality check. ")).repeated(20),
                                              QStringLiteral("sample")));
        QVERIFY(checked.wait(60000));
        auto* result = window->findChild<QObject*>(QStringLiteral("qualityResult"));
        QVERIFY(result);
        QTRY_VERIFY2(result->property("text").toString().contains(QStringLiteral("fp16")), qPrintable(result->property("text").toString()));
        auto* profileDialog = window->findChild<QObject*>(QStringLiteral("profileDialog"));
        QVERIFY(QMetaObject::invokeMethod(profileDialog, "open"));
        QTRY_VERIFY(profileDialog->property("opened").toBool());
        QTRY_COMPARE(profileDialog->property("conversations").toInt(), 1);
        QVERIFY(QMetaObject::invokeMethod(profileDialog, "close"));

        // The chat's cache is in memory: no "not in memory" note. Once the worker has let the
        // session go (as after a restart), reopening the chat shows the note and a zero cache.
        auto* note = window->findChild<QObject*>(QStringLiteral("notLoadedNote"));
        QVERIFY(note);
        QTRY_VERIFY(!note->property("visible").toBool());
        const qint64 id = services.chat.currentConversationId();
        services.inference.post([id](InferenceWorker* w) { w->releaseSession(id); });
        services.chat.newConversation();
        QTRY_VERIFY(!note->property("visible").toBool());  // an empty new chat has nothing to rebuild
        services.chat.selectConversation(id);
        QTRY_VERIFY(note->property("visible").toBool());
        auto* kvValue = window->findChild<QObject*>(QStringLiteral("kvValue"));
        QCOMPARE(kvValue->property("text").toString(), QStringLiteral("0 B"));
        QCOMPARE(window->findChild<QObject*>(QStringLiteral("tokensValue"))->property("text").toString(), QStringLiteral("–"));

        for (const QQmlError& e : warnings) qWarning("%s", qPrintable(e.toString()));
        QCOMPARE(warnings.size(), 0);
    }
};

QTEST_MAIN(TestGuiSmoke)
#include "test-gui-smoke.moc"
