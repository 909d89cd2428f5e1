// Built without a PDF library: PDFs are reported as unsupported.
#include <QFileInfo>
#include <QObject>

#include "core/document-reader.h"

bool pdfSupported() { return false; }

bool extractPdfText(const QString& path, QString*, QString* error) {
    *error = QObject::tr("%1: this build cannot read PDF files (built without poppler-qt6); open a .txt or .md file.")
                 .arg(QFileInfo(path).fileName());
    return false;
}
