// LaunchOptions: what kvmix-chat's command line asks for. FILE arguments come from the
// desktop entry's %F: a .gguf file or a model folder is the model to load, a
// .txt/.md/.pdf goes to Summarize; anything else is reported, never fatal.
// Parsed with QCommandLineParser before any QGuiApplication exists, so --help and
// --version work without a display. Plain value type; no threads involved.
#pragma once

#include <QString>
#include <QStringList>

struct LaunchOptions {
    enum class Action { run, help, version, usageError };
    Action action = Action::run;
    QString output;  // help text, version line or usage error for Action != run
    bool measureStartup = false;
    bool noModel = false;
    QString model;       // absolute path of the model to load, or empty
    QString document;    // absolute path of the document to summarize, or empty
    QStringList errors;  // arguments that could not be used, one sentence each

    // `arguments` includes the program name first, as QCoreApplication::arguments().
    static LaunchOptions parse(const QStringList& arguments);
};
