import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// One message of the active branch: Markdown text, state, stats, sibling flip and actions.
// Reads the model roles of MessageListModel (messageId, role, content, state, ...).
Item {
    id: root
    required property var messageId
    required property string role
    required property string content
    required property string messageState
    required property int siblingIndex
    required property int siblingCount
    required property int tokens
    required property real ttft
    required property real tps
    required property string error
    property bool editing: false
    property var codeBlocks: []
    signal copyRequested(string text)
    signal editRequested()
    signal editFinished()

    readonly property bool isUser: role === "user"
    implicitHeight: bubble.implicitHeight + 4

    Rectangle {
        id: bubble
        x: root.isUser ? root.width - width - 24 : 24
        width: Math.min(root.width - 48, Math.max(280, column.implicitWidth + 24))
        implicitHeight: column.implicitHeight + 20
        radius: theme.radius * 1.5
        color: root.isUser ? theme.userBubble : theme.assistantBubble
        border.color: root.isUser ? "transparent" : theme.border

        ColumnLayout {
            id: column
            anchors.fill: parent
            anchors.margins: 10
            spacing: 6

            RowLayout {
                Layout.fillWidth: true
                Label {
                    text: root.isUser ? qsTr("You") : qsTr("Assistant")
                    font.bold: true
                    font.pixelSize: theme.smallFont
                    color: theme.mutedText
                }
                Label {
                    objectName: "messageStateLabel"
                    visible: root.messageState !== "complete"
                    font.pixelSize: theme.smallFont
                    color: root.messageState === "error" ? theme.errorText : theme.warningText
                    text: root.messageState === "streaming" ? qsTr("writing…")
                        : root.messageState === "stopped" ? qsTr("stopped")
                        : root.messageState === "interrupted" ? qsTr("interrupted (the app closed while answering)")
                        : root.messageState === "error" ? qsTr("failed") : root.messageState
                }
                Item { Layout.fillWidth: true }
                RowLayout {
                    visible: root.siblingCount > 1
                    spacing: 0
                    ToolButton {
                        objectName: "previousVersionButton"
                        text: "‹"
                        enabled: root.siblingIndex > 0 && !chat.busy
                        Accessible.name: qsTr("Previous version")
                        onClicked: chat.flipSibling(root.messageId, -1)
                    }
                    Label {
                        objectName: "versionLabel"
                        text: qsTr("%1/%2").arg(root.siblingIndex + 1).arg(root.siblingCount)
                        font.pixelSize: theme.smallFont
                        Accessible.name: qsTr("Version %1 of %2").arg(root.siblingIndex + 1).arg(root.siblingCount)
                    }
                    ToolButton {
                        objectName: "nextVersionButton"
                        text: "›"
                        enabled: root.siblingIndex + 1 < root.siblingCount && !chat.busy
                        Accessible.name: qsTr("Next version")
                        onClicked: chat.flipSibling(root.messageId, 1)
                    }
                }
            }

            TextEdit {
                id: body
                objectName: "messageBody"
                visible: !root.editing
                Layout.fillWidth: true
                Layout.preferredWidth: Math.min(implicitWidth, root.width - 96)
                text: root.content.length ? root.content : (root.messageState === "streaming" ? "…" : "")
                textFormat: root.isUser ? TextEdit.PlainText : TextEdit.MarkdownText
                wrapMode: TextEdit.Wrap
                readOnly: true
                selectByMouse: true
                color: theme.text
                selectionColor: theme.accent
                font.pixelSize: theme.baseFont
                Accessible.role: Accessible.StaticText
                Accessible.name: root.content
            }
            Label {
                visible: root.error.length > 0
                text: root.error
                color: theme.errorText
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }

            ColumnLayout {
                visible: root.editing
                Layout.fillWidth: true
                TextArea {
                    id: editor
                    objectName: "messageEditor"
                    Layout.fillWidth: true
                    Layout.minimumWidth: 320
                    wrapMode: TextEdit.Wrap
                    text: root.content
                    Accessible.name: qsTr("Edit the message")
                    onVisibleChanged: if (visible) { text = root.content; forceActiveFocus(); cursorPosition = text.length }
                    Keys.onEscapePressed: root.editFinished()
                }
                RowLayout {
                    Button {
                        objectName: "saveEditButton"
                        text: root.isUser ? qsTr("Save and answer") : qsTr("Save")
                        highlighted: true
                        Accessible.name: text
                        onClicked: { chat.editMessage(root.messageId, editor.text); root.editFinished() }
                    }
                    Button { objectName: "cancelEditButton"; text: qsTr("Cancel"); Accessible.name: qsTr("Cancel editing"); onClicked: root.editFinished() }
                }
            }

            RowLayout {
                visible: !root.editing
                spacing: 4
                Repeater {
                    model: root.codeBlocks
                    Button {
                        required property int index
                        required property string modelData
                        flat: true
                        font.pixelSize: theme.smallFont
                        text: root.codeBlocks.length > 1 ? qsTr("Copy code %1").arg(index + 1) : qsTr("Copy code")
                        Accessible.name: text
                        onClicked: root.copyRequested(modelData)
                    }
                }
                Button {
                    flat: true
                    font.pixelSize: theme.smallFont
                    text: qsTr("Copy")
                    Accessible.name: qsTr("Copy the message")
                    onClicked: root.copyRequested(root.content)
                }
                Button {
                    flat: true
                    font.pixelSize: theme.smallFont
                    text: qsTr("Edit")
                    enabled: !chat.busy
                    Accessible.name: qsTr("Edit the message")
                    onClicked: root.editRequested()
                }
                Button {
                    visible: !root.isUser
                    flat: true
                    font.pixelSize: theme.smallFont
                    text: qsTr("Regenerate")
                    enabled: !chat.busy
                    Accessible.name: qsTr("Regenerate the answer (Ctrl+R)")
                    onClicked: chat.regenerateMessage(root.messageId)
                }
                Item { Layout.fillWidth: true }
                Label {
                    visible: !root.isUser && root.tokens > 0
                    font.pixelSize: theme.smallFont
                    color: theme.mutedText
                    text: qsTr("%1 tokens · first token %2 ms · %3 tok/s").arg(root.tokens).arg(Math.round(root.ttft * 1000)).arg(root.tps.toFixed(1))
                }
            }
        }
    }
}
