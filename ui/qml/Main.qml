import QtQuick
import QtQml.Models
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

// The main window: conversation sidebar, the current page (chat, summarize, layers) and
// the memory panel; the header holds the model picker and the KV preset selector.
ApplicationWindow {
    id: window
    objectName: "mainWindow"
    width: 1240
    height: 800
    minimumWidth: 720
    minimumHeight: 480
    visible: true
    title: chat.currentTitle.length > 0 ? qsTr("%1 — KVmix Chat").arg(chat.currentTitle) : qsTr("KVmix Chat")
    color: theme.window
    font.pixelSize: theme.baseFont

    property string page: "chat"
    property bool sidebarVisible: true
    property bool memoryVisible: true
    // Command-line arguments the app could not use (set by main()).
    property string launchMessage: ""

    SystemPalette { id: systemPalette }
    Theme {
        id: theme
        dark: settings.theme === "dark" || (settings.theme === "system" && systemPalette.window.hslLightness < 0.5)
        fontScale: settings.fontScale
    }

    palette.window: theme.window
    palette.windowText: theme.text
    palette.base: theme.panel
    palette.alternateBase: theme.sidebar
    palette.text: theme.text
    palette.button: theme.panel
    palette.buttonText: theme.text
    palette.highlight: theme.accent
    palette.highlightedText: theme.accentText
    palette.placeholderText: theme.mutedText
    palette.mid: theme.border
    palette.light: theme.panel
    palette.dark: theme.border
    palette.toolTipBase: theme.panel
    palette.toolTipText: theme.text

    function showPage(name) { page = name }

    Shortcut { sequence: "Ctrl+N"; onActivated: { chat.newConversation(); window.showPage("chat"); chatView.focusComposer() } }
    Shortcut { sequence: "Ctrl+F"; onActivated: { window.sidebarVisible = true; sidebar.focusSearch() } }
    // Only while something runs: otherwise Esc belongs to the focused field (clear the search,
    // cancel an edit).
    Shortcut {
        sequence: "Esc"
        enabled: chat.busy || summary.busy
        onActivated: { if (chat.busy) chat.stop(); else summary.cancel() }
    }
    Shortcut { sequence: "Ctrl+R"; enabled: !chat.busy; onActivated: chat.regenerate() }
    Shortcut { sequence: "Ctrl+E"; enabled: !chat.busy; onActivated: { window.showPage("chat"); chatView.editLast() } }
    Shortcut { sequence: "Ctrl+,"; onActivated: settingsDialog.open() }
    Shortcut { sequence: "Ctrl+O"; onActivated: modelFileDialog.open() }

    header: ToolBar {
        objectName: "headerBar"
        background: Rectangle { color: theme.panel; Rectangle { anchors.bottom: parent.bottom; width: parent.width; height: 1; color: theme.border } }
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: theme.spacing
            anchors.rightMargin: theme.spacing
            spacing: theme.spacing

            ToolButton {
                text: "☰"
                Accessible.name: qsTr("Show or hide the conversation list")
                ToolTip.visible: hovered
                ToolTip.text: Accessible.name
                onClicked: window.sidebarVisible = !window.sidebarVisible
            }
            Button {
                id: modelButton
                objectName: "modelPicker"
                text: models.displayName
                Accessible.name: qsTr("Model: %1").arg(models.displayName)
                ToolTip.visible: hovered
                ToolTip.text: models.loaded ? models.modelPath : qsTr("Choose a model")
                onClicked: { models.refreshInstalledModels(); modelMenu.popup(modelButton, 0, modelButton.height) }
                Menu {
                    id: modelMenu
                    Instantiator {
                        model: models.installedModels
                        delegate: MenuItem {
                            required property var modelData
                            objectName: "installedModel-" + modelData.name
                            text: modelData.isDefault ? qsTr("%1 (default)").arg(modelData.name) : modelData.name
                            checkable: true
                            checked: models.loaded && models.modelPath === modelData.path
                            Accessible.name: qsTr("Load %1").arg(modelData.name)
                            ToolTip.visible: hovered && modelData.description.length > 0
                            ToolTip.text: modelData.description
                            onTriggered: models.load(modelData.path)
                        }
                        onObjectAdded: (index, object) => modelMenu.insertItem(index, object)
                        onObjectRemoved: (index, object) => modelMenu.removeItem(object)
                    }
                    MenuSeparator { visible: models.installedModels.length > 0 }
                    MenuItem { text: qsTr("Open GGUF file…"); onTriggered: modelFileDialog.open() }
                    MenuItem { text: qsTr("Open safetensors folder…"); onTriggered: modelFolderDialog.open() }
                    MenuSeparator {}
                    MenuItem { text: qsTr("Model information…"); enabled: models.loaded; onTriggered: modelInfoDialog.open() }
                }
            }
            BusyIndicator {
                running: models.loading
                visible: models.loading
                implicitWidth: 24
                implicitHeight: 24
                Accessible.name: qsTr("Loading the model")
            }
            Label {
                visible: models.loading
                text: models.progressText
                color: theme.mutedText
                font.pixelSize: theme.smallFont
            }
            PresetSelector {
                objectName: "presetSelector"
                Layout.preferredWidth: 260
            }
            Item { Layout.fillWidth: true }
            PageButton { objectName: "chatPageButton"; text: qsTr("Chat"); checked: window.page === "chat"; Accessible.name: qsTr("Chat page"); onClicked: window.showPage("chat") }
            PageButton { objectName: "summarizePageButton"; text: qsTr("Summarize"); checked: window.page === "summarize"; Accessible.name: qsTr("Summarize a document"); onClicked: window.showPage("summarize") }
            PageButton { objectName: "layersPageButton"; text: qsTr("Layers"); checked: window.page === "layers"; Accessible.name: qsTr("Layer precision view"); onClicked: window.showPage("layers") }
            PageButton {
                text: qsTr("Memory")
                checked: window.memoryVisible
                Accessible.name: qsTr("Show or hide the memory panel")
                onClicked: window.memoryVisible = !window.memoryVisible
            }
            ToolButton {
                text: "⚙"
                Accessible.name: qsTr("Settings")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Settings (Ctrl+,)")
                onClicked: settingsDialog.open()
            }
        }
    }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Sidebar {
            id: sidebar
            objectName: "sidebar"
            visible: window.sidebarVisible
            Layout.preferredWidth: 270
            Layout.fillHeight: true
        }
        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            // Long messages must wrap, not push the memory panel out of the window.
            Layout.preferredWidth: 400
            Layout.minimumWidth: 320
            spacing: 0
            Banner {
                objectName: "launchBanner"
                text: window.launchMessage
                kind: "warning"
                onDismissed: window.launchMessage = ""
            }
            StackLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: window.page === "chat" ? 0 : window.page === "summarize" ? 1 : 2
                ChatView {
                    id: chatView
                    objectName: "chatView"
                    onOpenModelFileRequested: modelFileDialog.open()
                    onOpenModelFolderRequested: modelFolderDialog.open()
                }
                SummarizePage { objectName: "summarizePage"; onOpenConversation: window.showPage("chat") }
                LayerView { objectName: "layerView" }
            }
        }
        MemoryPanel {
            objectName: "memoryPanel"
            visible: window.memoryVisible
            Layout.preferredWidth: 300
            Layout.fillHeight: true
        }
    }

    FileDialog {
        id: modelFileDialog
        title: qsTr("Open a model file")
        nameFilters: [qsTr("Models (*.gguf *.safetensors)"), qsTr("All files (*)")]
        onAccepted: models.load(selectedFile)
    }
    FolderDialog {
        id: modelFolderDialog
        title: qsTr("Open a Hugging Face model folder")
        onAccepted: models.load(selectedFolder)
    }
    SettingsDialog { id: settingsDialog; objectName: "settingsDialog" }

    Dialog {
        id: modelInfoDialog
        objectName: "modelInfoDialog"
        title: qsTr("Model information")
        anchors.centerIn: parent
        modal: true
        standardButtons: Dialog.Close
        GridLayout {
            columns: 2
            columnSpacing: 16
            Label { text: qsTr("Name"); color: theme.mutedText }
            Label { text: models.info.name || "" }
            Label { text: qsTr("File"); color: theme.mutedText }
            Label { text: models.info.path || ""; elide: Text.ElideMiddle; Layout.maximumWidth: 420 }
            Label { text: qsTr("Format"); color: theme.mutedText }
            Label { text: models.info.format || "" }
            Label { text: qsTr("Architecture"); color: theme.mutedText }
            Label { text: models.info.architecture || "" }
            Label { text: qsTr("Size"); color: theme.mutedText }
            Label { text: theme.formatBytes(models.info.fileBytes) }
            Label { text: qsTr("Layers"); color: theme.mutedText }
            Label { text: String(models.info.layers || 0) }
            Label { text: qsTr("Heads (KV)"); color: theme.mutedText }
            Label { text: qsTr("%1 (%2)").arg(models.info.heads || 0).arg(models.info.kvHeads || 0) }
            Label { text: qsTr("Training context"); color: theme.mutedText }
            Label { text: theme.formatCount(models.info.context) }
            Label { text: qsTr("Vocabulary"); color: theme.mutedText }
            Label { text: theme.formatCount(models.info.vocabulary) }
            Label { text: qsTr("Chat template"); color: theme.mutedText }
            Label { text: models.info.chatTemplate ? qsTr("from the model") : qsTr("built-in for its family") }
            Label { text: qsTr("Device"); color: theme.mutedText }
            Label { text: models.device + " — " + models.deviceNote; wrapMode: Text.Wrap; Layout.maximumWidth: 420 }
        }
    }
}
