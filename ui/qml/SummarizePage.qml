import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

// Long-document summarization: open a .txt/.md/.pdf, summarize in one pass when it fits
// the context (else map-reduce with progress and cancel); the result becomes a chat.
Item {
    id: root
    signal openConversation()

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 10

        Label { text: qsTr("Summarize a document"); font.bold: true; font.pixelSize: theme.largeFont }
        RowLayout {
            spacing: theme.spacing
            Button {
                objectName: "openDocumentButton"
                text: qsTr("Open document…")
                enabled: !summary.busy
                Accessible.name: qsTr("Open a document to summarize")
                onClicked: documentDialog.open()
            }
            Label {
                text: summary.documentName.length ? qsTr("%1 · %2 characters").arg(summary.documentName).arg(theme.formatCount(summary.documentChars))
                                                  : (summary.pdfSupported ? qsTr("Text, Markdown or PDF") : qsTr("Text or Markdown"))
                color: theme.mutedText
            }
            Item { Layout.fillWidth: true }
            Button {
                objectName: "summarizeButton"
                text: summary.busy ? qsTr("Cancel") : qsTr("Summarize")
                highlighted: !summary.busy
                enabled: summary.busy || (models.loaded && summary.documentChars > 0)
                Accessible.name: summary.busy ? qsTr("Cancel the summary (Esc)") : qsTr("Summarize the document")
                onClicked: summary.busy ? summary.cancel() : summary.summarize()
            }
        }
        Label {
            text: qsTr("KV preset: %1 — %2").arg(kv.preset).arg(kv.presetNote)
            color: theme.mutedText
            font.pixelSize: theme.smallFont
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
        ProgressBar {
            objectName: "summaryProgress"
            Layout.fillWidth: true
            visible: summary.busy || summary.progress > 0
            indeterminate: summary.busy && summary.progress < 0
            value: Math.max(0, summary.progress)
            Accessible.name: qsTr("Summary progress")
        }
        Label { text: summary.progressText; visible: text.length > 0; color: theme.mutedText }
        Banner { text: summary.error; kind: "error" }

        SplitView {
            Layout.fillWidth: true
            Layout.fillHeight: true
            orientation: Qt.Horizontal
            Rectangle {
                SplitView.preferredWidth: parent.width / 2
                color: theme.panel
                border.color: theme.border
                radius: theme.radius
                ScrollView {
                    anchors.fill: parent
                    anchors.margins: 8
                    TextArea {
                        readOnly: true
                        wrapMode: TextEdit.Wrap
                        text: summary.documentPreview
                        placeholderText: qsTr("The document appears here.")
                        Accessible.name: qsTr("Document preview")
                        background: null
                    }
                }
            }
            Rectangle {
                color: theme.panel
                border.color: theme.border
                radius: theme.radius
                ColumnLayout {
                    anchors.fill: parent
                    anchors.margins: 8
                    Label { text: qsTr("Summary"); font.bold: true }
                    ScrollView {
                        Layout.fillWidth: true
                        Layout.fillHeight: true
                        TextArea {
                            objectName: "summaryText"
                            readOnly: true
                            wrapMode: TextEdit.Wrap
                            textFormat: TextEdit.MarkdownText
                            text: summary.summary
                            Accessible.name: qsTr("Summary")
                            background: null
                        }
                    }
                    Label {
                        objectName: "summaryInfo"
                        text: summary.resultInfo
                        visible: text.length > 0
                        wrapMode: Text.Wrap
                        Layout.fillWidth: true
                        color: theme.mutedText
                        font.pixelSize: theme.smallFont
                    }
                    Button {
                        visible: summary.resultInfo.length > 0 && !summary.busy
                        text: qsTr("Continue as a chat")
                        Accessible.name: qsTr("Open the summary as a conversation")
                        onClicked: root.openConversation()
                    }
                }
            }
        }
    }

    FileDialog {
        id: documentDialog
        title: qsTr("Open a document")
        nameFilters: summary.pdfSupported ? [qsTr("Documents (*.txt *.md *.markdown *.pdf)"), qsTr("All files (*)")]
                                          : [qsTr("Documents (*.txt *.md *.markdown)"), qsTr("All files (*)")]
        onAccepted: summary.openDocument(selectedFile)
    }
}
