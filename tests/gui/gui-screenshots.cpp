// Renders the main views to PNGs for review: gui-screenshots OUT_DIR [MODEL [SAMPLE_TEXT]].
// Uses a fresh database in OUT_DIR, loads MODEL (default: the tiny fixture), asks one
// question, then captures the chat with the memory panel, the layer view (custom preset
// edited, then profiled, then its quality check against fp16 — printed too, with uniform
// k2v2 for comparison), the summarization page after a summary, the dark theme, and the
// first chat reopened without its cache in memory.
#include <QDir>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QSignalSpy>
#include <QTimer>
#include <cstdio>

#include "gui/app-services.h"

namespace {

void settle(int ms) {
    QEventLoop loop;
    QTimer::singleShot(ms, &loop, &QEventLoop::quit);
    loop.exec();
}

bool save(QQuickWindow* window, const QString& path) {
    settle(400);
    const QImage image = window->grabWindow();
    const bool ok = !image.isNull() && image.save(path);
    std::printf("%s %s\n", ok ? "wrote" : "FAILED", qPrintable(path));
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    QGuiApplication app(argc, argv);
    QGuiApplication::setOrganizationName(QStringLiteral("kvmix-screenshots"));
    QGuiApplication::setApplicationName(QStringLiteral("KVmix Chat"));
    QQuickStyle::setStyle(QStringLiteral("Basic"));
    if (argc < 2) {
        std::fprintf(stderr, "usage: gui-screenshots OUT_DIR [MODEL]\n");
        return 2;
    }
    const QString out = QString::fromLocal8Bit(argv[1]);
    const QString model = argc > 2 ? QString::fromLocal8Bit(argv[2]) : QStringLiteral(KVMIX_TEST_DATA_DIR "/models/tiny-llama-q8_0.gguf");
    QDir().mkpath(out);
    QFile::remove(out + QStringLiteral("/chats.sqlite"));

    AppServices services(out + QStringLiteral("/chats.sqlite"));
    services.settings.setTheme(QStringLiteral("light"));
    QQmlApplicationEngine engine;
    services.expose(engine.rootContext());
    engine.load(QUrl(QStringLiteral("qrc:/qml/Main.qml")));
    if (engine.rootObjects().isEmpty()) return 1;
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    window->resize(1280, 800);
    bool ok = save(window, out + QStringLiteral("/00-start-no-model.png"));

    QSignalSpy ready(&services.models, &ModelController::modelReady);
    services.models.load(model);
    if (!ready.wait(120000)) {
        std::fprintf(stderr, "model did not load: %s\n", qPrintable(services.models.error()));
        return 1;
    }
    services.kv.setPreset(QStringLiteral("balanced"));
    services.chat.setSampling({{QStringLiteral("temperature"), 0.0}, {QStringLiteral("max_tokens"), 80},
                               {QStringLiteral("context_length"), 2048}});
    QSignalSpy done(&services.chat, &ChatController::generationFinished);
    services.chat.send(QStringLiteral("Explain in two sentences what a KV cache is, then show a one-line Python example."));
    done.wait(300000);
    // Text in several scripts (CJK needs the fallback font the package depends on).
    services.chat.send(QStringLiteral("Now say it in one short sentence. Then say hello in Chinese (你好), Arabic (مرحبا) and Russian (Привет)."));
    done.wait(300000);
    ok &= save(window, out + QStringLiteral("/01-chat-memory.png"));
    const qint64 chatId = services.chat.currentConversationId();

    window->setProperty("page", QStringLiteral("layers"));
    services.kv.setCustomBits(0, 8, 8);
    services.kv.setCustomBits(1, 4, 4);
    ok &= save(window, out + QStringLiteral("/02-layers-custom.png"));

    QSignalSpy profiled(&services.kv, &KvController::profilingFinished);
    services.kv.startProfiling(2, 64);
    profiled.wait(300000);
    services.kv.setPreset(QStringLiteral("balanced"));
    ok &= save(window, out + QStringLiteral("/02b-layers-profiled.png"));

    // Quality check on SAMPLE_TEXT (default: a generated text from the benchmarks): the profiled balanced preset, then every
    // layer at K2 V2 (custom), each against fp16.
    const QString sample = argc > 3 ? QString::fromLocal8Bit(argv[3])
                                    : QStringLiteral(KVMIX_TEST_DATA_DIR "/../bench/data/generated-lighthouse.txt");
    QSignalSpy checked(&services.kv, &KvController::qualityFinished);
    auto check = [&] {
        const int before = static_cast<int>(checked.count());
        if (!services.kv.startQualityCheckFile(sample)) {
            std::fprintf(stderr, "quality check: %s\n", qPrintable(services.kv.checkText()));
            return;
        }
        while (checked.count() == before && checked.wait(300000)) {
        }
        const QVariantMap r = services.kv.checkResult();
        std::printf("quality %s: %lld tokens (%lld scored), perplexity %.4f vs fp16 %.4f, delta %+.4f (%+.2f%%), mean KL %.5f nats, %.1f s\n",
                    qPrintable(r.value(QStringLiteral("preset")).toString()), r.value(QStringLiteral("tokens")).toLongLong(),
                    r.value(QStringLiteral("scored")).toLongLong(), r.value(QStringLiteral("perplexity")).toDouble(),
                    r.value(QStringLiteral("fp16Perplexity")).toDouble(), r.value(QStringLiteral("delta")).toDouble(),
                    r.value(QStringLiteral("deltaPercent")).toDouble(), r.value(QStringLiteral("meanKl")).toDouble(),
                    r.value(QStringLiteral("seconds")).toDouble());
    };
    check();
    ok &= save(window, out + QStringLiteral("/02c-layers-quality.png"));
    const int nLayer = static_cast<int>(services.kv.layers().size());
    for (int i = 0; i < nLayer; ++i) services.kv.setCustomBits(i, 2, 2);
    check();
    services.kv.setPreset(QStringLiteral("balanced"));

    window->setProperty("page", QStringLiteral("summarize"));
    // A real multi-page document: a licence text every Debian system has.
    const QString document = QStringLiteral("/usr/share/common-licenses/Apache-2.0");
    if (!services.summary.openDocument(document)) {
        std::fprintf(stderr, "cannot open %s: %s\n", qPrintable(document), qPrintable(services.summary.error()));
        return 1;
    }
    services.kv.setPreset(QStringLiteral("compact"));
    QSignalSpy summarized(&services.summary, &SummaryController::finished);
    services.summary.summarize();
    summarized.wait(600000);
    std::printf("summary of %s (%s):\n%s\n", qPrintable(document), qPrintable(services.summary.resultInfo()),
                qPrintable(services.summary.summary()));
    ok &= save(window, out + QStringLiteral("/03-summarize.png"));

    window->setProperty("page", QStringLiteral("chat"));
    services.settings.setTheme(QStringLiteral("dark"));
    ok &= save(window, out + QStringLiteral("/04-chat-dark.png"));

    // The first chat reopened after its session was let go (as after a restart): no cache yet.
    services.inference.post([chatId](InferenceWorker* w) { w->releaseSession(chatId); });
    services.chat.selectConversation(chatId);
    ok &= save(window, out + QStringLiteral("/05-chat-reopened.png"));
    return ok ? 0 : 1;
}
