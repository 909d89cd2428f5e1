// Text of a document to summarize: .txt / .md read as UTF-8; .pdf through the PDF backend
// chosen at build time (poppler-qt6 when found, otherwise PDF is reported unsupported).
#pragma once

#include <QString>

bool pdfSupported();
// Fills *text or returns false with a message naming the file and the problem.
bool readDocumentText(const QString& path, QString* text, QString* error);
// The PDF backend's part of readDocumentText.
bool extractPdfText(const QString& path, QString* text, QString* error);
