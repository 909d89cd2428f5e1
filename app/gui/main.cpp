// kvmix-chat: the desktop application. main() only wires the services to the QML UI.
#include <QElapsedTimer>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QTimer>
#include <cstdio>

#include "app-services.h"
#include "core/launch-options.h"

int main(int argc, char** argv) {
    QElapsedTimer clock;
    clock.start();
    // Parsed before the QGuiApplication exists, so --help and --version need no display.
    QStringList arguments;
    for (int i = 0; i < argc; ++i) arguments << QString::fromLocal8Bit(argv[i]);
    const LaunchOptions launch = LaunchOptions::parse(arguments);
    switch (launch.action) {
        case LaunchOptions::Action::help: std::printf("%s", qPrintable(launch.output)); return 0;
        case LaunchOptions::Action::version: std::printf("kvmix-chat %s\n", KVMIX_VERSION); return 0;
        case LaunchOptions::Action::usageError: std::fprintf(stderr, "kvmix-chat: %s", qPrintable(launch.output)); return 2;
        case LaunchOptions::Action::run: break;
    }
    for (const QString& e : launch.errors) std::fprintf(stderr, "kvmix-chat: %s\n", qPrintable(e));

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
