import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

// Conversation list: new chat, full-text search, rename, export, delete with undo.
Rectangle {
    id: root
    color: theme.sidebar
    function focusSearch() { search.forceActiveFocus(); search.selectAll() }

    Rectangle { anchors.right: parent.right; width: 1; height: parent.height; color: theme.border }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: theme.spacing
        spacing: theme.spacing

        Button {
            objectName: "newChatButton"
            text: qsTr("New chat")
            Layout.fillWidth: true
            Accessible.name: qsTr("New chat (Ctrl+N)")
            onClicked: chat.newConversation()
        }
        TextField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: qsTr("Search chats (Ctrl+F)")
            Accessible.name: qsTr("Search conversations")
            text: chat.searchQuery
            onTextEdited: searchDelay.restart()
            Keys.onEscapePressed: { text = ""; chat.searchQuery = "" }
            Timer { id: searchDelay; interval: 200; onTriggered: chat.searchQuery = search.text }
        }
        ListView {
            id: list
            objectName: "conversationList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: chat.conversations
            spacing: 2
            Accessible.name: qsTr("Conversations")
            ScrollBar.vertical: ScrollBar {}
            delegate: ItemDelegate {
                id: row
                objectName: "conversationRow"
                width: ListView.view.width
                highlighted: conversationId === chat.currentConversationId
                Accessible.name: title
                onClicked: chat.selectConversation(conversationId)
                background: Rectangle { radius: theme.radius; color: row.highlighted ? theme.selection : (row.hovered ? Qt.rgba(0.5, 0.5, 0.5, 0.12) : "transparent") }
                contentItem: ColumnLayout {
                    spacing: 2
                    Label { objectName: "conversationTitle"; text: title; elide: Text.ElideRight; Layout.fillWidth: true; font.bold: row.highlighted }
                    Label {
                        objectName: "conversationSnippet"
                        visible: snippet.length > 0
                        text: snippet.replace(/\[/g, "«").replace(/\]/g, "»")
                        color: theme.mutedText
                        font.pixelSize: theme.smallFont
                        elide: Text.ElideRight
                        Layout.fillWidth: true
                    }
                    Label {
                        text: Qt.formatDateTime(updated, "yyyy-MM-dd hh:mm")
                        color: theme.mutedText
                        font.pixelSize: theme.smallFont
                    }
                }
                TapHandler { acceptedButtons: Qt.RightButton; onTapped: { menu.conversationId = conversationId; menu.conversationTitle = title; menu.popup() } }
            }
            Label {
                anchors.centerIn: parent
                visible: list.count === 0
                text: chat.searchQuery.length ? qsTr("No chat matches.") : qsTr("No chats yet.")
                color: theme.mutedText
            }
        }
        Rectangle {
            visible: chat.canUndoDelete
            Layout.fillWidth: true
            implicitHeight: undoRow.implicitHeight + 8
            radius: theme.radius
            color: theme.warning
            RowLayout {
                id: undoRow
                anchors.fill: parent
                anchors.margins: 4
                Label { text: qsTr("Chat deleted."); color: theme.warningText; Layout.fillWidth: true }
                Button { text: qsTr("Undo"); Accessible.name: qsTr("Undo delete"); onClicked: chat.undoDelete() }
            }
        }
        Button {
            text: qsTr("Import chat…")
            Layout.fillWidth: true
            flat: true
            Accessible.name: qsTr("Import a chat from JSON")
            onClicked: importDialog.open()
        }
    }

    Menu {
        id: menu
        property var conversationId: 0
        property string conversationTitle: ""
        MenuItem { text: qsTr("Rename…"); onTriggered: { renameField.text = menu.conversationTitle; renameDialog.open() } }
        MenuItem { text: qsTr("Export as Markdown…"); onTriggered: { exportDialog.format = "markdown"; exportDialog.open() } }
        MenuItem { text: qsTr("Export as JSON…"); onTriggered: { exportDialog.format = "json"; exportDialog.open() } }
        MenuSeparator {}
        MenuItem { text: qsTr("Delete"); onTriggered: chat.deleteConversation(menu.conversationId) }
    }
    Dialog {
        id: renameDialog
        title: qsTr("Rename chat")
        modal: true
        parent: Overlay.overlay
        anchors.centerIn: parent
        standardButtons: Dialog.Ok | Dialog.Cancel
        TextField { id: renameField; width: 320; Accessible.name: qsTr("New title"); onAccepted: renameDialog.accept() }
        onAccepted: chat.renameConversation(menu.conversationId, renameField.text)
    }
    FileDialog {
        id: exportDialog
        property string format: "markdown"
        fileMode: FileDialog.SaveFile
        title: qsTr("Export chat")
        nameFilters: format === "json" ? [qsTr("JSON (*.json)")] : [qsTr("Markdown (*.md)")]
        onAccepted: chat.exportConversation(menu.conversationId, selectedFile, format)
    }
    FileDialog {
        id: importDialog
        title: qsTr("Import chat")
        nameFilters: [qsTr("JSON (*.json)")]
        onAccepted: chat.importConversation(selectedFile)
    }
}
