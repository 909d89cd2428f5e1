// GUI input test (offscreen platform): real key presses and mouse clicks reach the main
// QML window, loaded as the app loads it, with the tiny fixture model. Each case acts
// through the keyboard or the mouse (only the document a file dialog would pick is set
// directly) and checks what the window then shows: message bubbles, their state and
// version labels, the preset selector, the layer cells, the conversation list and the
// summary. Controllers are read only to wait for the worker. No case may produce a QML
// warning. The cases share one window and chat database, in order: the search finds the
// first case's chat.
#include <QFile>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickItem>
#include <QQuickWindow>
#include <QScopeGuard>
#include <QSemaphore>
#include <QSettings>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>

#include "app-test-support.h"
#include "gui/app-services.h"

namespace {

constexpr int kAnswerMs = 30000;  // the worker shares a small CPU with other tests

void collect(QQuickItem* root, const QString& name, QList<QQuickItem*>* out) {
    for (QQuickItem* child : root->childItems()) {
        if (child->objectName() == name && child->isVisible()) out->append(child);
        collect(child, name, out);
    }
}

// The visible items called `name` under root, top to bottom.
QList<QQuickItem*> visibleItems(QQuickItem* root, const QString& name) {
    QList<QQuickItem*> out;
    if (root) collect(root, name, &out);
    std::stable_sort(out.begin(), out.end(),
                     [](QQuickItem* a, QQuickItem* b) { return a->mapToScene(QPointF()).y() < b->mapToScene(QPointF()).y(); });
    return out;
}

QQuickItem* visibleItem(QQuickItem* root, const QString& name) {
    const QList<QQuickItem*> all = visibleItems(root, name);
    return all.isEmpty() ? nullptr : all.first();
}

// QTest::keyClicks takes only widgets in Qt 6.4: one key event per (Latin-1) character.
void typeText(QWindow* window, const QString& text) {
    for (const char c : text.toLatin1()) QTest::keyClick(window, c);
}

QString textOf(QQuickItem* item) { return item ? item->property("text").toString() : QStringLiteral("<missing>"); }

}  // namespace

class TestGuiInput : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    std::unique_ptr<AppServices> m_services;
    std::unique_ptr<QQmlApplicationEngine> m_engine;
    QQuickWindow* m_window = nullptr;
    QList<QQmlError> m_warnings;
    // Hold the worker thread in the Esc case; members, as the worker may still touch them
    // after that case has returned.
    QSemaphore m_gate;
    std::atomic<bool> m_held{false};

    QQuickItem* root() const { return m_window->contentItem(); }
    QQuickItem* item(const char* name) const { return visibleItem(root(), QLatin1String(name)); }
    QQuickItem* messageList() const { return m_window->findChild<QQuickItem*>(QStringLiteral("messageList")); }
    QList<QQuickItem*> bubbles() const { return visibleItems(messageList(), QStringLiteral("messageDelegate")); }
    QQuickItem* lastBubble() const {
        const QList<QQuickItem*> all = bubbles();
        return all.isEmpty() ? nullptr : all.last();
    }
    // The state label of a bubble ("writing…", "stopped"); empty when the answer is complete.
    static QString shownState(QQuickItem* bubble) {
        QQuickItem* label = bubble ? visibleItem(bubble, QStringLiteral("messageStateLabel")) : nullptr;
        return label ? textOf(label) : QString();
    }
    static QString shownBody(QQuickItem* bubble) { return textOf(visibleItem(bubble, QStringLiteral("messageBody"))); }

    // A left click in the middle of item, as the user would do it. A page just shown is laid
    // out when the next frame is prepared: wait for one so the item is where it is drawn.
    static bool click(QQuickWindow* window, QQuickItem* item) {
        QSignalSpy frame(window, &QQuickWindow::frameSwapped);
        window->update();
        if (!frame.wait(5000)) return false;
        if (!item || !item->isVisible() || !item->isEnabled()) return false;
        const QPointF centre = item->mapToScene(QPointF(item->width() / 2, item->height() / 2));
        QTest::mouseClick(window, Qt::LeftButton, Qt::NoModifier, centre.toPoint());
        return true;
    }

    void setSampling(int maxTokens, const QString& policy = QStringLiteral("truncate"), double temperature = 0.0, int seed = 1) {
        m_services->chat.setSampling({{QStringLiteral("temperature"), temperature},
                                      {QStringLiteral("seed"), seed},
                                      {QStringLiteral("max_tokens"), maxTokens},
                                      {QStringLiteral("context_length"), 256},
                                      {QStringLiteral("context_policy"), policy}});
    }

    // Ctrl+N, then the message typed into the composer and sent with Enter.
    bool newChatAndSend(const QString& text) {
        QTest::keyClick(m_window, Qt::Key_N, Qt::ControlModifier);
        auto* composer = item("composer");
        if (!composer || !QTest::qWaitFor([&] { return composer->hasActiveFocus() && messageList()->property("count").toInt() == 0; }))
            return false;
        typeText(m_window, text);
        if (textOf(composer) != text) return false;
        QTest::keyClick(m_window, Qt::Key_Return);
        return true;
    }

    bool waitIdle() {
        return QTest::qWaitFor([&] { return !m_services->chat.busy() && !m_services->summary.busy(); }, kAnswerMs);
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        qputenv("XDG_DATA_HOME", m_dir.filePath(QStringLiteral("data")).toLocal8Bit());
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("kvmix-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test-gui-input"));
        QSettings().clear();  // the preset and sampling of an earlier run must not leak in

        m_services = std::make_unique<AppServices>(m_dir.filePath(QStringLiteral("chats.sqlite")));
        QCOMPARE(m_services->startupError(), QString());
        m_engine = std::make_unique<QQmlApplicationEngine>();
        connect(m_engine.get(), &QQmlEngine::warnings, this, [this](const QList<QQmlError>& w) { m_warnings += w; });
        m_services->expose(m_engine->rootContext());
        m_engine->load(QUrl(QStringLiteral("qrc:/qml/Main.qml")));
        QCOMPARE(m_engine->rootObjects().size(), 1);
        m_window = qobject_cast<QQuickWindow*>(m_engine->rootObjects().first());
        QVERIFY(m_window);
        m_window->requestActivate();
        QVERIFY(QTest::qWaitForWindowActive(m_window));

        QSignalSpy ready(&m_services->models, &ModelController::modelReady);
        m_services->models.load(fixtureModel());
        QVERIFY(waitFor(ready));
        QTRY_VERIFY(item("sendButton"));
    }

    void init() { setSampling(8); }

    void cleanup() {
        // A failed case may leave an answer streaming; the next case needs an idle worker.
        m_services->chat.stop();
        m_services->summary.cancel();
        QVERIFY(waitIdle());
        for (const QQmlError& e : std::as_const(m_warnings)) qWarning("%s", qPrintable(e.toString()));
        const qsizetype warnings = m_warnings.size();
        m_warnings.clear();
        QCOMPARE(warnings, 0);
    }

    void cleanupTestCase() {
        m_engine.reset();
        m_services.reset();
    }

    // Typing and Enter send the message; its bubble and the model's answer appear.
    void enterSendsTypedMessage() {
        const QString text = QStringLiteral("Hello from the keyboard, zebra");
        QVERIFY(newChatAndSend(text));
        QTRY_COMPARE_WITH_TIMEOUT(bubbles().size(), 2, kAnswerMs);
        QVERIFY(waitIdle());
        QTRY_COMPARE(shownState(lastBubble()), QString());
        const QList<QQuickItem*> shown = bubbles();
        QCOMPARE(shown.size(), 2);
        QCOMPARE(shown[0]->property("role").toString(), QStringLiteral("user"));
        QCOMPARE(shownBody(shown[0]), text);
        QCOMPARE(shown[1]->property("role").toString(), QStringLiteral("assistant"));
        QVERIFY2(!shownBody(shown[1]).trimmed().isEmpty(), "the answer bubble is empty");
        QCOMPARE(textOf(item("composer")), QString());
        QCOMPARE(item("conversationList")->property("count").toInt(), 1);
    }

    // Esc while the answer streams stops it; the partial answer stays, marked stopped.
    void escStopsStreamingAnswer() {
        // The fixture writes thousands of tokens a second and may end its answer early, so
        // the worker is held inside its first streamed piece (every piece is emitted) until
        // Esc has been pressed: the key always arrives mid-stream. After that it runs on,
        // unbounded with a rolling context, until something stops it.
        InferenceWorker* worker = m_services->inference.worker();
        worker->setCoalesceIntervalMs(0);
        m_held = false;
        m_gate.tryAcquire(m_gate.available());
        bool released = false;
        const auto letGo = [&] {
            if (!std::exchange(released, true)) m_gate.release();
        };
        const QMetaObject::Connection hold = connect(worker, &InferenceWorker::tokensGenerated, [this] {
            if (!m_held.exchange(true)) m_gate.tryAcquire(1, kAnswerMs);
        });
        const auto release = qScopeGuard([&] {
            letGo();
            disconnect(hold);
            worker->setCoalesceIntervalMs(InferenceWorker::kCoalesceMs);
        });
        setSampling(-1, QStringLiteral("rolling"));
        QVERIFY(newChatAndSend(QStringLiteral("Write a very long story")));

        // The bubble's content role: the shown text is re-rendered Markdown, not a prefix.
        QString partial;
        QTRY_VERIFY_WITH_TIMEOUT(bubbles().size() == 2 && shownState(lastBubble()) == QStringLiteral("writing…")
                                     && !(partial = lastBubble()->property("content").toString()).isEmpty(),
                                 kAnswerMs);
        QVERIFY(!shownBody(lastBubble()).startsWith(QStringLiteral("…")));
        QTest::keyClick(m_window, Qt::Key_Escape);
        letGo();
        QTRY_COMPARE_WITH_TIMEOUT(shownState(lastBubble()), QStringLiteral("stopped"), 10000);
        const QString kept = lastBubble()->property("content").toString();
        QVERIFY2(kept.startsWith(partial), qPrintable(QStringLiteral("kept '%1', streamed '%2'").arg(kept.left(80), partial.left(80))));
        QVERIFY(!shownBody(lastBubble()).trimmed().isEmpty());
        QCOMPARE(textOf(item("sendButton")), QStringLiteral("Send"));
    }

    // Ctrl+R answers again as a second version; the ‹ › buttons flip between versions.
    void ctrlRMakesVersionsAndSwitcherFlips() {
        setSampling(8, QStringLiteral("truncate"), 1.0, 1);
        QVERIFY(newChatAndSend(QStringLiteral("Tell me about the weather")));
        QTRY_COMPARE_WITH_TIMEOUT(bubbles().size(), 2, kAnswerMs);
        QVERIFY(waitIdle());
        QTRY_COMPARE(shownState(lastBubble()), QString());
        QVERIFY2(!visibleItem(lastBubble(), QStringLiteral("versionLabel")), "one answer shows no version switcher");
        const QString first = shownBody(lastBubble());
        const qint64 firstId = lastBubble()->property("messageId").toLongLong();

        setSampling(8, QStringLiteral("truncate"), 1.0, 2);  // another seed: another text
        QTest::keyClick(m_window, Qt::Key_R, Qt::ControlModifier);
        QTRY_COMPARE_WITH_TIMEOUT(textOf(visibleItem(lastBubble(), QStringLiteral("versionLabel"))), QStringLiteral("2/2"), kAnswerMs);
        QVERIFY(waitIdle());
        QTRY_COMPARE(shownState(lastBubble()), QString());
        QCOMPARE(bubbles().size(), 2);
        const QString second = shownBody(lastBubble());
        const qint64 secondId = lastBubble()->property("messageId").toLongLong();
        QVERIFY(secondId != firstId);
        QVERIFY2(second != first, qPrintable(second));
        QVERIFY(!visibleItem(lastBubble(), QStringLiteral("nextVersionButton"))->isEnabled());

        QVERIFY(click(m_window, visibleItem(lastBubble(), QStringLiteral("previousVersionButton"))));
        QTRY_COMPARE(textOf(visibleItem(lastBubble(), QStringLiteral("versionLabel"))), QStringLiteral("1/2"));
        QCOMPARE(shownBody(lastBubble()), first);
        QCOMPARE(lastBubble()->property("messageId").toLongLong(), firstId);
        QVERIFY(!visibleItem(lastBubble(), QStringLiteral("previousVersionButton"))->isEnabled());

        QVERIFY(click(m_window, visibleItem(lastBubble(), QStringLiteral("nextVersionButton"))));
        QTRY_COMPARE(textOf(visibleItem(lastBubble(), QStringLiteral("versionLabel"))), QStringLiteral("2/2"));
        QCOMPARE(shownBody(lastBubble()), second);
        QCOMPARE(bubbles().size(), 2);
    }

    // Up in the empty composer and Ctrl+E open the last message's editor; saving branches.
    void editLastMessageIntoBranch() {
        const QString text = QStringLiteral("What is a cache");
        QVERIFY(newChatAndSend(text));
        QTRY_COMPARE_WITH_TIMEOUT(bubbles().size(), 2, kAnswerMs);
        QVERIFY(waitIdle());
        QTRY_VERIFY(item("composer")->hasActiveFocus());

        QTest::keyClick(m_window, Qt::Key_Up);
        QTRY_VERIFY(visibleItem(bubbles().first(), QStringLiteral("messageEditor")));
        QVERIFY(visibleItem(bubbles().first(), QStringLiteral("messageEditor"))->hasActiveFocus());
        QVERIFY(click(m_window, visibleItem(bubbles().first(), QStringLiteral("cancelEditButton"))));
        QTRY_VERIFY(!visibleItem(bubbles().first(), QStringLiteral("messageEditor")));
        QCOMPARE(shownBody(bubbles().first()), text);

        QTest::keyClick(m_window, Qt::Key_E, Qt::ControlModifier);
        QTRY_VERIFY(visibleItem(bubbles().first(), QStringLiteral("messageEditor")));
        auto* editor = visibleItem(bubbles().first(), QStringLiteral("messageEditor"));
        QTRY_VERIFY(editor->hasActiveFocus());
        QCOMPARE(textOf(editor), text);
        typeText(m_window, QStringLiteral(" in memory"));
        QCOMPARE(textOf(editor), text + QStringLiteral(" in memory"));
        QVERIFY(click(m_window, visibleItem(bubbles().first(), QStringLiteral("saveEditButton"))));

        QTRY_COMPARE_WITH_TIMEOUT(textOf(visibleItem(bubbles().first(), QStringLiteral("versionLabel"))), QStringLiteral("2/2"), kAnswerMs);
        QVERIFY(waitIdle());
        QTRY_COMPARE(shownState(lastBubble()), QString());
        const QList<QQuickItem*> shown = bubbles();
        QCOMPARE(shown.size(), 2);
        QCOMPARE(shownBody(shown[0]), text + QStringLiteral(" in memory"));
        QVERIFY(!visibleItem(shown[0], QStringLiteral("messageEditor")));
        QCOMPARE(shown[1]->property("role").toString(), QStringLiteral("assistant"));
        QVERIFY2(!shownBody(shown[1]).trimmed().isEmpty(), "the branch has no answer");
    }

    // The header's preset selector: a click opens it and a click picks a preset; Up steps.
    void presetSelectorByMouseAndKeyboard() {
        auto* selector = item("presetSelector");
        QVERIFY(selector);
        QCOMPARE(m_services->kv.preset(), QStringLiteral("balanced"));
        QCOMPARE(selector->property("displayText").toString(), QStringLiteral("KV: Balanced"));

        QVERIFY(click(m_window, selector));
        auto* popup = selector->property("popup").value<QObject*>();
        QVERIFY(popup);
        QTRY_VERIFY(popup->property("opened").toBool());
        QTRY_VERIFY(item("presetChoice-compact"));
        QVERIFY(click(m_window, item("presetChoice-compact")));
        QTRY_COMPARE(selector->property("displayText").toString(), QStringLiteral("KV: Compact"));
        QCOMPARE(m_services->kv.preset(), QStringLiteral("compact"));
        QTRY_VERIFY(!popup->property("visible").toBool());

        QVERIFY(selector->hasActiveFocus());
        QTest::keyClick(m_window, Qt::Key_Up);
        QTRY_COMPARE(selector->property("displayText").toString(), QStringLiteral("KV: Balanced"));
        QCOMPARE(m_services->kv.preset(), QStringLiteral("balanced"));
        QTest::keyClick(m_window, Qt::Key_Up);
        QTRY_COMPARE(selector->property("displayText").toString(), QStringLiteral("KV: High quality"));
        QCOMPARE(m_services->kv.preset(), QStringLiteral("high"));
    }

    // A click on a layer cell and one on a bit width: the cell shows it, the preset is custom.
    void layerCellSetsCustomBits() {
        QVERIFY(click(m_window, item("layersPageButton")));
        QTRY_VERIFY(item("layerGrid"));
        QTRY_VERIFY(item("bitsCell-0-k"));
        const QString keyBits = textOf(visibleItem(item("bitsCell-0-k"), QStringLiteral("bitsText")));
        const QString valueBits = textOf(visibleItem(item("bitsCell-0-v"), QStringLiteral("bitsText")));
        // The fixture is not profiled: a preset shows its uniform bits.
        QVERIFY(m_services->kv.preset() != QStringLiteral("custom"));
        QCOMPARE(keyBits, QString::number(KvController::uniformFallback(m_services->kv.preset()).first));
        const QString target = keyBits == QStringLiteral("2") ? QStringLiteral("8") : QStringLiteral("2");

        QVERIFY(click(m_window, item("bitsCell-0-k")));
        auto* menu = m_window->findChild<QObject*>(QStringLiteral("bitsMenu"));
        QVERIFY(menu);
        QTRY_VERIFY(menu->property("opened").toBool());
        QTRY_VERIFY(visibleItem(root(), QStringLiteral("bitsChoice-") + target));
        QVERIFY(click(m_window, visibleItem(root(), QStringLiteral("bitsChoice-") + target)));
        QTRY_COMPARE(textOf(visibleItem(item("bitsCell-0-k"), QStringLiteral("bitsText"))), target);
        QCOMPARE(textOf(visibleItem(item("bitsCell-0-v"), QStringLiteral("bitsText"))), valueBits);
        QCOMPARE(m_services->kv.preset(), QStringLiteral("custom"));
        QCOMPARE(item("presetSelector")->property("displayText").toString(), QStringLiteral("KV: Custom"));

        QVERIFY(click(m_window, item("chatPageButton")));
        QTRY_VERIFY(item("messageList"));
    }

    // Ctrl+F puts the cursor in the search field; typing narrows the list to the match.
    void ctrlFSearchFindsMessage() {
        const int all = item("conversationList")->property("count").toInt();
        QVERIFY2(all >= 3, qPrintable(QString::number(all)));
        QTest::keyClick(m_window, Qt::Key_F, Qt::ControlModifier);
        auto* search = item("searchField");
        QTRY_VERIFY(search->hasActiveFocus());
        typeText(m_window, QStringLiteral("zebra"));
        QCOMPARE(textOf(search), QStringLiteral("zebra"));
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 1);
        const QList<QQuickItem*> rows = visibleItems(item("conversationList"), QStringLiteral("conversationRow"));
        QCOMPARE(rows.size(), 1);
        QVERIFY2(textOf(visibleItem(rows.first(), QStringLiteral("conversationSnippet"))).contains(QStringLiteral("zebra")),
                 qPrintable(textOf(visibleItem(rows.first(), QStringLiteral("conversationSnippet")))));
        QCOMPARE(textOf(visibleItem(rows.first(), QStringLiteral("conversationTitle"))), QStringLiteral("Hello from the keyboard, zebra"));

        QTest::keyClick(m_window, Qt::Key_A, Qt::ControlModifier);
        QTest::keyClick(m_window, Qt::Key_Backspace);
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), all);

        // Esc in the search field clears it (nothing is streaming, so Esc is not "stop").
        typeText(m_window, QStringLiteral("zebra"));
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), 1);
        QTest::keyClick(m_window, Qt::Key_Escape);
        QTRY_COMPARE(textOf(search), QString());
        QTRY_COMPARE(item("conversationList")->property("count").toInt(), all);
    }

    // The Summarize page: a document set, a click on Summarize, the summary shows.
    void summarizeDocument() {
        QVERIFY(click(m_window, item("summarizePageButton")));
        QTRY_VERIFY(item("summarizePage"));
        auto* button = item("summarizeButton");
        QVERIFY(button);
        QVERIFY(!button->isEnabled());  // no document yet

        const QString path = m_dir.filePath(QStringLiteral("notes.txt"));
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("The cache keeps keys and values of past tokens. Low bits save memory.\n"
                   "Important layers keep more bits than the others.\n");
        file.close();
        QVERIFY(m_services->summary.openDocument(path));
        QTRY_VERIFY(button->isEnabled());
        QCOMPARE(textOf(button), QStringLiteral("Summarize"));
        QCOMPARE(textOf(item("summaryText")), QString());
        QVERIFY(!item("summaryInfo"));
        QVERIFY(click(m_window, button));
        QTRY_VERIFY_WITH_TIMEOUT(item("summaryInfo"), kAnswerMs);
        QVERIFY(waitIdle());
        QVERIFY2(!textOf(item("summaryText")).trimmed().isEmpty(), "the summary is empty");
        QVERIFY2(textOf(item("summaryInfo")).contains(QStringLiteral("one pass")), qPrintable(textOf(item("summaryInfo"))));
        QCOMPARE(textOf(button), QStringLiteral("Summarize"));
    }
};

QTEST_MAIN(TestGuiInput)
#include "test-gui-input.moc"
