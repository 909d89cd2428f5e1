// kvmix-chat: the desktop application. main() only wires the services to the QML UI.
#include <QElapsedTimer>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QQmlContext>
#include <QQuickStyle>
#include <QQuickWindow>
#include <QTimer>
#include <cstdio>
#include <cstring>

#include "app-services.h"

int main(int argc, char** argv) {
    QElapsedTimer clock;
    clock.start();
    bool measureStartup = false;
    bool noModel = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--version") == 0) {
            std::printf("kvmix-chat %s\n", KVMIX_VERSION);
            return 0;
        }
        if (std::strcmp(argv[i], "--help") == 0) {
            std::printf("usage: kvmix-chat [--no-model] [--startup-time]\n"
                        "  --no-model      start without loading the last or default model\n"
                        "  --startup-time  print the milliseconds until the first frame is shown, then quit\n");
            return 0;
        }
        if (std::strcmp(argv[i], "--startup-time") == 0) measureStartup = true;
        if (std::strcmp(argv[i], "--no-model") == 0) noModel = true;
    }
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
    auto* window = qobject_cast<QQuickWindow*>(engine.rootObjects().first());
    if (measureStartup && window) {
        QObject::connect(window, &QQuickWindow::frameSwapped, &app, [&] {
            std::printf("first frame after %lld ms\n", static_cast<long long>(clock.elapsed()));
            std::fflush(stdout);
            QTimer::singleShot(0, &app, &QGuiApplication::quit);
        }, Qt::SingleShotConnection);
    }
    // The model loads on the inference thread after the window is up.
    if (!noModel && !measureStartup) QTimer::singleShot(0, &services.models, &ModelController::loadLastOrDefault);
    return app.exec();
}
