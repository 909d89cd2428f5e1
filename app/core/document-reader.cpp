#include "core/document-reader.h"

#include <QFile>
#include <QFileInfo>
#include <QObject>
#include <QStringDecoder>

bool readDocumentText(const QString& path, QString* text, QString* error) {
    const QFileInfo fi(path);
    const QString ext = fi.suffix().toLower();
    if (ext == QLatin1String("pdf")) return extractPdfText(path, text, error);
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) {
        *error = QObject::tr("Cannot open %1: %2").arg(fi.fileName(), f.errorString());
        return false;
    }
    const QByteArray data = f.readAll();
    if (data.contains('\0')) {
        *error = QObject::tr("%1 is not a text file (open .txt, .md or .pdf).").arg(fi.fileName());
        return false;
    }
    QStringDecoder decode(QStringDecoder::Utf8);
    *text = decode(data);
    if (decode.hasError()) {
        *error = QObject::tr("%1 is not valid UTF-8 text.").arg(fi.fileName());
        return false;
    }
    if (text->trimmed().isEmpty()) {
        *error = QObject::tr("%1 is empty.").arg(fi.fileName());
        return false;
    }
    return true;
}
