// kvmix-chat: the desktop application. main() only wires the services to the QML UI.
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QTimer>
#include <cstdio>

#include "app-services.h"

namespace {

// What the command line asks for. FILE arguments come from the desktop entry's %F: a
// .gguf file or a model folder is the model to load, a .txt/.md/.pdf goes to Summarize.
struct Launch {
    bool measureStartup = false;
    bool noModel = false;
    QString model;
    QString document;
    QStringList errors;  // arguments that are neither, shown in the app
};

// Parses before the QGuiApplication exists, so --help and --version work without a display.
// Returns an exit code when the process should stop here, else -1.
int parseCommandLine(int argc, char** argv, Launch& launch) {
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("KVmix Chat: chat with local language models; the KV cache is stored with KVmix."));
    const QCommandLineOption help(QStringList{QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help and exit."));
    const QCommandLineOption version(QStringLiteral("version"), QStringLiteral("Show the version and exit."));
    const QCommandLineOption noModel(QStringLiteral("no-model"), QStringLiteral("Start without loading the last or default model."));
    const QCommandLineOption startup(QStringLiteral("startup-time"),
                                     QStringLiteral("Print the milliseconds until the first frame is shown, then quit."));
    parser.addOptions({help, version, noModel, startup});
    parser.addPositionalArgument(QStringLiteral("files"),
                                 QStringLiteral("A model (.gguf file or model folder) to load, or a document (.txt, .md, .pdf) to summarize."),
                                 QStringLiteral("[FILE...]"));
    QStringList args;
    for (int i = 0; i < argc; ++i) args << QString::fromLocal8Bit(argv[i]);
    if (!parser.parse(args)) {
        std::fprintf(stderr, "kvmix-chat: %s\n%s", qPrintable(parser.errorText()), qPrintable(parser.helpText()));
        return 2;
    }
    if (parser.isSet(help)) {
        std::printf("%s", qPrintable(parser.helpText()));
        return 0;
    }
    if (parser.isSet(version)) {
        std::printf("kvmix-chat %s\n", KVMIX_VERSION);
        return 0;
    }
    launch.measureStartup = parser.isSet(startup);
    launch.noModel = parser.isSet(noModel);
    for (const QString& arg : parser.positionalArguments()) {
        const QFileInfo info(arg);
        const QString suffix = info.suffix().toLower();
        if (!info.exists()) {
            launch.errors << QStringLiteral("%1: no such file or folder").arg(arg);
        } else if (info.isDir() || suffix == QLatin1String("gguf") || suffix == QLatin1String("safetensors")) {
            if (!launch.model.isEmpty()) launch.errors << QStringLiteral("%1: only one model can be opened; using %2").arg(arg, launch.model);
            else launch.model = info.absoluteFilePath();
        } else if (suffix == QLatin1String("txt") || suffix == QLatin1String("md") || suffix == QLatin1String("pdf")) {
            if (!launch.document.isEmpty()) launch.errors << QStringLiteral("%1: only one document can be summarized at a time; using %2").arg(arg, launch.document);
            else launch.document = info.absoluteFilePath();
        } else {
            launch.errors << QStringLiteral("%1: not a model (.gguf, model folder) or a document (.txt, .md, .pdf)").arg(arg);
        }
    }
    for (const QString& e : launch.errors) std::fprintf(stderr, "kvmix-chat: %s\n", qPrintable(e));
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    QElapsedTimer clock;
    clock.start();
    Launch launch;
    if (const int rc = parseCommandLine(argc, argv, launch); rc >= 0) return rc;

    QGuiApplication app(argc, argv);
    QGuiApplication::setOrganizationName(QStringLiteral("kvmix"));
    QGuiApplication::setApplicationName(QStringLiteral("KVmix Chat"));
    QGuiApplication::setApplicationVersion(QStringLiteral(KVMIX_VERSION));
    QGuiApplication::setDesktopFileName(QStringLiteral("kvmix-chat"));
    QQuickStyle::setStyle(QStringLiteral("Basic"));

    AppServices services(AppServices::defaultDatabasePath());
    QQmlApplicationEngine engine;
    services.expose(engine.rootContext());
    engine.load(QUrl(QStringLiteral("qrc:/qml/Main.qml")));
    if (engine.rootObjects().isEmpty()) return 1;
    QObject* root = engine.rootObjects().first();
    auto* window = qobject_cast<QQuickWindow*>(root);
    if (launch.measureStartup && window) {
        QObject::connect(window, &QQuickWindow::frameSwapped, &app, [&] {
            std::printf("first frame after %lld ms\n", static_cast<long long>(clock.elapsed()));
            std::fflush(stdout);
            QTimer::singleShot(0, &app, &QGuiApplication::quit);
        }, Qt::SingleShotConnection);
        return app.exec();
    }
    if (!launch.document.isEmpty()) {
        services.summary.openDocument(launch.document);
        root->setProperty("page", QStringLiteral("summarize"));
    }
    if (!launch.errors.isEmpty()) root->setProperty("launchMessage", launch.errors.join(QLatin1Char('\n')));
    // The model loads on the inference thread after the window is up.
    if (!launch.model.isEmpty())
        QTimer::singleShot(0, &services.models, [&services, path = launch.model] { services.models.load(path); });
    else if (!launch.noModel)
        QTimer::singleShot(0, &services.models, &ModelController::loadLastOrDefault);
    return app.exec();
}
