import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The chat: banners (errors, context truncation), the messages of the active branch and
// the composer. Enter sends, Shift+Enter adds a line, Up in an empty composer edits the
// last message, Esc stops the answer.
Item {
    id: root
    property var editingId: 0
    signal openModelFileRequested()
    signal openModelFolderRequested()

    function focusComposer() { composer.forceActiveFocus() }
    function editLast() {
        const id = chat.lastUserMessageId()
        if (id) root.editingId = id
    }
    function copyText(t) { clipboard.text = t; clipboard.selectAll(); clipboard.copy(); clipboard.text = "" }
    // The fenced code blocks of a Markdown text, in order.
    function codeBlocks(md) {
        const out = []
        const re = /```[^\n]*\n([\s\S]*?)```/g
        let m
        while ((m = re.exec(md)) !== null) out.push(m[1].replace(/\n$/, ""))
        return out
    }

    TextEdit { id: clipboard; visible: false }

    // Typing starts in the message box: when the window opens, after each answer and once
    // a model is ready.
    Component.onCompleted: Qt.callLater(root.focusComposer)
    Connections {
        target: chat
        function onBusyChanged() { if (!chat.busy && root.visible) root.focusComposer() }
    }
    Connections {
        target: models
        function onStateChanged() { if (models.loaded && root.visible) root.focusComposer() }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        Banner {
            objectName: "startupErrorBanner"
            text: app.startupError
            kind: "error"
        }
        Banner {
            objectName: "modelErrorBanner"
            text: models.error
            kind: "error"
        }
        Banner {
            objectName: "chatErrorBanner"
            text: chat.lastError
            kind: "error"
            onDismissed: chat.clearError()
        }
        Banner {
            objectName: "contextBanner"
            text: chat.contextBanner
            kind: "warning"
            onDismissed: chat.dismissBanner()
        }
        Banner {
            text: kv.applyNote
            kind: "info"
            onDismissed: kv.dismissApplyNote()
        }

        ListView {
            id: messageList
            objectName: "messageList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: chat.messages
            spacing: theme.spacing
            topMargin: 16
            bottomMargin: 16
            Accessible.name: qsTr("Messages")
            ScrollBar.vertical: ScrollBar {}
            property bool pinnedToEnd: true
            onMovementEnded: pinnedToEnd = atYEnd
            onContentHeightChanged: if (pinnedToEnd) positionViewAtEnd()
            onCountChanged: { pinnedToEnd = true; positionViewAtEnd() }

            delegate: MessageDelegate {
                objectName: "messageDelegate"
                width: ListView.view.width
                editing: root.editingId === messageId
                onCopyRequested: (t) => root.copyText(t)
                onEditRequested: root.editingId = messageId
                onEditFinished: root.editingId = 0
                codeBlocks: root.codeBlocks(content)
            }

            Column {
                anchors.centerIn: parent
                visible: messageList.count === 0
                spacing: 8
                width: Math.min(parent.width - 64, 520)
                Label {
                    width: parent.width
                    horizontalAlignment: Text.AlignHCenter
                    text: qsTr("KVmix Chat")
                    font.pixelSize: theme.largeFont * 1.4
                    font.bold: true
                }
                Label {
                    width: parent.width
                    horizontalAlignment: Text.AlignHCenter
                    wrapMode: Text.Wrap
                    color: theme.mutedText
                    text: models.loaded ? qsTr("%1 is ready. Ask anything — the KV cache uses the %2 preset.").arg(models.displayName).arg(kv.preset)
                        : models.loading ? qsTr("Loading the model…")
                        : qsTr("No model loaded. KVmix Chat runs language models on this computer: it needs a GGUF file or a Hugging Face folder (config.json, safetensors weights and tokenizer.json or tokenizer.model) of a Llama, Mistral, Qwen 2/3 or Gemma 3 model.")
                }
                Label {
                    width: parent.width
                    visible: !models.loaded && !models.loading && !models.defaultModelExists
                    horizontalAlignment: Text.AlignHCenter
                    wrapMode: Text.Wrap
                    color: theme.mutedText
                    text: qsTr("The default model (SmolLM2 135M Instruct, Q4_1) is not installed: it is expected at %1 (installer/setup.sh of the source tree puts it there). Any other model file works too.").arg(models.defaultModelPath)
                }
                Flow {
                    objectName: "firstRunActions"
                    visible: !models.loaded && !models.loading
                    anchors.horizontalCenter: parent.horizontalCenter
                    spacing: theme.spacing
                    Button {
                        objectName: "useDefaultModelButton"
                        visible: models.defaultModelExists
                        text: qsTr("Use the default model")
                        Accessible.name: text
                        onClicked: models.loadDefault()
                    }
                    Button {
                        text: qsTr("Open a GGUF file…")
                        Accessible.name: text
                        onClicked: root.openModelFileRequested()
                    }
                    Button {
                        text: qsTr("Open a safetensors folder…")
                        Accessible.name: text
                        onClicked: root.openModelFolderRequested()
                    }
                }
            }
        }

        Rectangle {
            Layout.fillWidth: true
            implicitHeight: composerRow.implicitHeight + 2 * theme.spacing
            color: theme.panel
            Rectangle { width: parent.width; height: 1; color: theme.border }
            RowLayout {
                id: composerRow
                anchors.fill: parent
                anchors.margins: theme.spacing
                spacing: theme.spacing
                ScrollView {
                    Layout.fillWidth: true
                    Layout.preferredHeight: Math.min(160, Math.max(40, composer.implicitHeight))
                    TextArea {
                        id: composer
                        objectName: "composer"
                        placeholderText: qsTr("Message (Enter to send, Shift+Enter for a new line)")
                        wrapMode: TextEdit.Wrap
                        Accessible.name: qsTr("Message to send")
                        Keys.onPressed: (event) => {
                            if ((event.key === Qt.Key_Return || event.key === Qt.Key_Enter) && !(event.modifiers & Qt.ShiftModifier)) {
                                root.send()
                                event.accepted = true
                            } else if (event.key === Qt.Key_Up && text.length === 0) {
                                root.editLast()
                                event.accepted = true
                            }
                        }
                    }
                }
                ColumnLayout {
                    spacing: 2
                    Button {
                        objectName: "sendButton"
                        text: chat.busy ? qsTr("Stop") : qsTr("Send")
                        highlighted: !chat.busy
                        enabled: chat.busy || (models.loaded && composer.text.trim().length > 0)
                        Accessible.name: chat.busy ? qsTr("Stop the answer (Esc)") : qsTr("Send the message")
                        onClicked: chat.busy ? chat.stop() : root.send()
                    }
                    Label {
                        text: chat.statusText
                        color: theme.mutedText
                        font.pixelSize: theme.smallFont
                        Layout.alignment: Qt.AlignHCenter
                    }
                }
            }
        }
    }

    function send() {
        if (!models.loaded || chat.busy) return
        if (chat.send(composer.text)) composer.text = ""
    }
}
