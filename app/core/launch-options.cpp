#include "core/launch-options.h"

#include <QCommandLineParser>
#include <QFileInfo>

LaunchOptions LaunchOptions::parse(const QStringList& arguments) {
    LaunchOptions out;
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
    // Without a QCoreApplication the help text cannot know the program's name.
    const QString program = arguments.isEmpty() ? QStringLiteral("kvmix-chat") : QFileInfo(arguments.first()).fileName();
    const QString helpText = parser.helpText().replace(QLatin1String("<executable_name>"), program);
    if (!parser.parse(arguments)) {
        out.action = Action::usageError;
        out.output = parser.errorText() + QLatin1Char('\n') + helpText;
        return out;
    }
    if (parser.isSet(help)) {
        out.action = Action::help;
        out.output = helpText;
        return out;
    }
    if (parser.isSet(version)) {
        out.action = Action::version;
        return out;
    }
    out.measureStartup = parser.isSet(startup);
    out.noModel = parser.isSet(noModel);
    for (const QString& arg : parser.positionalArguments()) {
        const QFileInfo info(arg);
        const QString suffix = info.suffix().toLower();
        if (!info.exists()) {
            out.errors << QStringLiteral("%1: no such file or folder").arg(arg);
        } else if (info.isDir() || suffix == QLatin1String("gguf") || suffix == QLatin1String("safetensors")) {
            if (out.model.isEmpty()) out.model = info.absoluteFilePath();
            else out.errors << QStringLiteral("%1: only one model can be opened; using %2").arg(arg, out.model);
        } else if (suffix == QLatin1String("txt") || suffix == QLatin1String("md") || suffix == QLatin1String("pdf")) {
            if (out.document.isEmpty()) out.document = info.absoluteFilePath();
            else out.errors << QStringLiteral("%1: only one document can be summarized at a time; using %2").arg(arg, out.document);
        } else {
            out.errors << QStringLiteral("%1: not a model (.gguf, model folder) or a document (.txt, .md, .pdf)").arg(arg);
        }
    }
    return out;
}
