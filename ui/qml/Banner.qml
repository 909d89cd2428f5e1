import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// A one-line notice above the chat: kind "error", "warning" or "info"; hidden when empty.
Rectangle {
    id: root
    property string text: ""
    property string kind: "info"
    signal dismissed()
    Layout.fillWidth: true
    visible: text.length > 0
    implicitHeight: visible ? label.implicitHeight + 16 : 0
    color: kind === "error" ? theme.error : kind === "warning" ? theme.warning : theme.selection
    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: 12
        anchors.rightMargin: 8
        Label {
            id: label
            text: root.text
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            color: root.kind === "error" ? theme.errorText : root.kind === "warning" ? theme.warningText : theme.text
            Accessible.role: Accessible.AlertMessage
            Accessible.name: root.text
        }
        ToolButton {
            text: "✕"
            Accessible.name: qsTr("Dismiss")
            onClicked: root.dismissed()
        }
    }
}
