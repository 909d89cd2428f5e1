// PDF text through poppler-qt6.
#include <QFileInfo>
#include <QObject>
#include <memory>
#include <poppler-qt6.h>

#include "core/document-reader.h"

bool pdfSupported() { return true; }

bool extractPdfText(const QString& path, QString* text, QString* error) {
    const QString name = QFileInfo(path).fileName();
    std::unique_ptr<Poppler::Document> doc = Poppler::Document::load(path);
    if (!doc) {
        *error = QObject::tr("%1 is not a readable PDF.").arg(name);
        return false;
    }
    if (doc->isLocked()) {
        *error = QObject::tr("%1 is password-protected.").arg(name);
        return false;
    }
    QStringList pages;
    for (int i = 0; i < doc->numPages(); ++i) {
        std::unique_ptr<Poppler::Page> page = doc->page(i);
        if (page) pages << page->text(QRectF());
    }
    *text = pages.join(QStringLiteral("\n\n"));
    if (text->trimmed().isEmpty()) {
        *error = QObject::tr("%1 has no extractable text (a scanned PDF?).").arg(name);
        return false;
    }
    return true;
}
