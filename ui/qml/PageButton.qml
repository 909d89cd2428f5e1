import QtQuick
import QtQuick.Controls

// A header button that shows whether its page or panel is on.
AbstractButton {
    id: root
    implicitWidth: label.implicitWidth + 24
    implicitHeight: 32
    hoverEnabled: true
    contentItem: Label {
        id: label
        text: root.text
        color: theme.text
        font.bold: root.checked
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
    }
    background: Rectangle {
        radius: theme.radius
        color: root.checked ? theme.selection : (root.hovered ? Qt.rgba(0.5, 0.5, 0.5, 0.15) : "transparent")
        border.color: root.visualFocus ? theme.accent : "transparent"
    }
}
