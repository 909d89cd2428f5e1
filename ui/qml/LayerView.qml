import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

// Layer precision: a heatmap of layers × {K, V} coloured by bits, the importance scores
// as bars when the preset has a profile, the full-precision windows, and an editor for
// the custom preset (click a cell to change its bits; memory numbers update at once).
// Profiling runs on text the user chooses (self-generated, files, past conversations);
// the quality check measures the preset's perplexity against fp16 on a sample text.
Item {
    id: root
    readonly property var layers: kv.layers
    property real maxImportance: {
        let m = 0
        for (const l of layers) m = Math.max(m, l.kImportance, l.vImportance)
        return m
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 16
        spacing: 10

        RowLayout {
            Layout.fillWidth: true
            Label { text: qsTr("Layer precision"); font.bold: true; font.pixelSize: theme.largeFont }
            Item { Layout.fillWidth: true }
            PresetSelector { Layout.preferredWidth: 240 }
            Button {
                objectName: "qualityButton"
                text: kv.checking ? qsTr("Cancel check") : qsTr("Check quality…")
                enabled: kv.checking || (kv.hasModel && !chat.busy && !kv.profiling)
                Accessible.name: kv.checking ? qsTr("Cancel the quality check") : qsTr("Check the preset's quality against fp16")
                ToolTip.visible: hovered
                ToolTip.text: qsTr("Measure the perplexity of a sample text with this preset and with fp16 (up to 1024 tokens, read in chunks of 128 through the cache) and show the difference.")
                onClicked: kv.checking ? kv.cancelQualityCheck() : qualityMenu.popup()
                Menu {
                    id: qualityMenu
                    MenuItem {
                        text: qsTr("On this conversation")
                        enabled: chat.currentConversationId !== 0
                        onTriggered: kv.startQualityCheck(chat.conversationText(), qsTr("this conversation"))
                    }
                    MenuItem {
                        text: qsTr("On a text file…")
                        onTriggered: qualityFileDialog.open()
                    }
                }
            }
            Button {
                objectName: "profileButton"
                text: kv.profiling ? qsTr("Cancel profiling") : (kv.profiled ? qsTr("Profile again…") : qsTr("Run profiling…"))
                enabled: kv.profiling || (kv.canProfile && kv.hasModel && !chat.busy && !kv.checking)
                Accessible.name: kv.profiling ? qsTr("Cancel the importance analysis") : qsTr("Run the layer importance analysis")
                ToolTip.visible: hovered
                ToolTip.text: kv.canProfile ? qsTr("Measure each layer's importance on calibration text; the presets then give more bits to the important layers.")
                                            : qsTr("This build has no importance profiler")
                onClicked: kv.profiling ? kv.cancelProfiling() : profileDialog.open()
            }
        }
        ProgressBar {
            Layout.fillWidth: true
            visible: kv.profiling
            value: Math.max(0, kv.profilingProgress)
            Accessible.name: qsTr("Profiling progress")
        }
        Label {
            visible: kv.profilingText.length > 0
            text: kv.profilingText
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            color: theme.mutedText
            font.pixelSize: theme.smallFont
        }
        ProgressBar {
            Layout.fillWidth: true
            visible: kv.checking
            value: Math.max(0, kv.checkProgress)
            Accessible.name: qsTr("Quality check progress")
        }
        Label {
            objectName: "qualityResult"
            visible: kv.checkText.length > 0
            text: kv.checkText
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            font.pixelSize: theme.smallFont
            color: !kv.checking && kv.checkResult.deltaPercent !== undefined && kv.checkResult.deltaPercent > 5 ? theme.warningText : theme.mutedText
        }
        Label {
            objectName: "presetNote"
            text: kv.presetNote
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            color: kv.profiled || kv.preset === "fp16" || kv.preset === "custom" ? theme.mutedText : theme.warningText
        }
        Label {
            objectName: "storageNote"
            // How the quantized layers store their tokens: group size and the KV rotation.
            visible: kv.hasModel && kv.preset !== "fp16"
            text: {
                const p = kv.presets.find(x => x.key === kv.preset)
                if (!p)
                    return ""
                const rotated = p.rotation === "both" ? qsTr("keys and values rotated (Hadamard) before quantization")
                              : p.rotation === "none" ? qsTr("no rotation") : qsTr("%1 rotated (Hadamard) before quantization").arg(p.rotation)
                return qsTr("Groups of %1 tokens (keys) and channels (values); %2.").arg(p.groupSize).arg(rotated)
            }
            wrapMode: Text.Wrap
            Layout.fillWidth: true
            color: theme.mutedText
            font.pixelSize: theme.smallFont
        }
        Label {
            visible: !kv.hasModel
            text: qsTr("Load a model to see its layers.")
            color: theme.mutedText
        }

        RowLayout {
            visible: kv.hasModel
            spacing: 14
            Repeater {
                model: [16, 8, 4, 3, 2]
                RowLayout {
                    required property int modelData
                    spacing: 4
                    Rectangle { Layout.preferredWidth: 14; Layout.preferredHeight: 14; radius: 3; color: theme.bitsColor(modelData) }
                    Label { text: modelData === 16 ? qsTr("fp16") : qsTr("%1-bit").arg(modelData); font.pixelSize: theme.smallFont }
                }
            }
            Item { Layout.fillWidth: true }
            Label {
                text: {
                    const p = kv.presets.find(x => x.key === kv.preset)
                    return p ? qsTr("average K %1 / V %2 bits · %3 per token").arg(p.avgKBits.toFixed(2)).arg(p.avgVBits.toFixed(2)).arg(theme.formatBytes(p.bytesPerToken)) : ""
                }
                font.pixelSize: theme.smallFont
                color: theme.mutedText
            }
        }

        RowLayout {
            visible: kv.hasModel
            Layout.fillWidth: true
            spacing: 6
            Label { text: qsTr("Layer"); Layout.preferredWidth: 52; font.bold: true; font.pixelSize: theme.smallFont }
            Label { text: qsTr("K"); Layout.preferredWidth: 56; horizontalAlignment: Text.AlignHCenter; font.bold: true; font.pixelSize: theme.smallFont }
            Label { text: qsTr("V"); Layout.preferredWidth: 56; horizontalAlignment: Text.AlignHCenter; font.bold: true; font.pixelSize: theme.smallFont }
            Label { text: qsTr("Importance (K / V)"); Layout.fillWidth: true; font.bold: true; font.pixelSize: theme.smallFont }
            Label { text: qsTr("Window K / V"); Layout.preferredWidth: 110; font.bold: true; font.pixelSize: theme.smallFont }
            Label { text: qsTr("Bytes/token"); Layout.preferredWidth: 90; font.bold: true; font.pixelSize: theme.smallFont }
        }

        ListView {
            id: grid
            objectName: "layerGrid"
            visible: kv.hasModel
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            model: root.layers
            spacing: 2
            Accessible.name: qsTr("Per-layer bits")
            ScrollBar.vertical: ScrollBar {}
            delegate: RowLayout {
                id: row
                required property var modelData
                width: ListView.view.width
                spacing: 6
                Label { text: String(row.modelData.layer); Layout.preferredWidth: 52; font.pixelSize: theme.smallFont }
                Repeater {
                    model: ["k", "v"]
                    Rectangle {
                        id: cell
                        required property string modelData
                        objectName: "bitsCell-" + row.modelData.layer + "-" + cell.modelData
                        readonly property int bits: cell.modelData === "k" ? row.modelData.kBits : row.modelData.vBits
                        Layout.preferredWidth: 56
                        Layout.preferredHeight: 22
                        radius: 3
                        color: theme.bitsColor(bits)
                        border.color: hover.hovered ? theme.text : "transparent"
                        Label {
                            objectName: "bitsText"
                            anchors.centerIn: parent
                            text: cell.bits >= 16 ? "16" : String(cell.bits)
                            color: "#111"
                            font.pixelSize: theme.smallFont
                        }
                        HoverHandler { id: hover }
                        ToolTip.visible: hover.hovered
                        ToolTip.text: qsTr("Layer %1 %2: %3 bits, full-precision window %4 tokens%5. Click to change.")
                            .arg(row.modelData.layer).arg(cell.modelData === "k" ? qsTr("keys") : qsTr("values")).arg(cell.bits)
                            .arg(cell.modelData === "k" ? row.modelData.kWindow : row.modelData.vWindow)
                            .arg((cell.modelData === "k" ? row.modelData.kImportance : row.modelData.vImportance) >= 0
                                 ? qsTr(", importance %1").arg((cell.modelData === "k" ? row.modelData.kImportance : row.modelData.vImportance).toPrecision(3)) : "")
                        Accessible.role: Accessible.Button
                        Accessible.name: qsTr("Layer %1 %2 bits %3").arg(row.modelData.layer).arg(cell.modelData).arg(cell.bits)
                        TapHandler {
                            onTapped: {
                                bitsMenu.layer = row.modelData.layer
                                bitsMenu.isKey = cell.modelData === "k"
                                bitsMenu.k = row.modelData.kBits
                                bitsMenu.v = row.modelData.vBits
                                bitsMenu.popup()
                            }
                        }
                    }
                }
                Item {
                    Layout.fillWidth: true
                    Layout.preferredHeight: 22
                    Rectangle {
                        visible: row.modelData.kImportance >= 0 && root.maxImportance > 0
                        y: 2; height: 8; radius: 2
                        width: parent.width * Math.max(0, row.modelData.kImportance) / Math.max(1e-12, root.maxImportance)
                        color: theme.accent
                    }
                    Rectangle {
                        visible: row.modelData.vImportance >= 0 && root.maxImportance > 0
                        y: 12; height: 8; radius: 2
                        width: parent.width * Math.max(0, row.modelData.vImportance) / Math.max(1e-12, root.maxImportance)
                        color: theme.chartFp16
                    }
                    Label {
                        visible: row.modelData.kImportance < 0
                        anchors.verticalCenter: parent.verticalCenter
                        text: qsTr("not profiled")
                        color: theme.mutedText
                        font.pixelSize: theme.smallFont
                    }
                }
                Label {
                    text: qsTr("%1 / %2").arg(row.modelData.kWindow).arg(row.modelData.vWindow)
                    Layout.preferredWidth: 110
                    font.pixelSize: theme.smallFont
                }
                Label {
                    text: theme.formatBytes(row.modelData.bytesPerToken)
                    Layout.preferredWidth: 90
                    font.pixelSize: theme.smallFont
                }
            }
        }
    }

    Menu {
        id: bitsMenu
        objectName: "bitsMenu"
        property int layer: 0
        property bool isKey: true
        property int k: 16
        property int v: 16
        title: qsTr("Bits")
        Repeater {
            model: [2, 3, 4, 8, 16]
            MenuItem {
                required property int modelData
                objectName: "bitsChoice-" + modelData
                text: modelData === 16 ? qsTr("16 (fp16)") : qsTr("%1 bits").arg(modelData)
                checkable: true
                checked: (bitsMenu.isKey ? bitsMenu.k : bitsMenu.v) === modelData
                onTriggered: kv.setCustomBits(bitsMenu.layer, bitsMenu.isKey ? modelData : bitsMenu.k, bitsMenu.isKey ? bitsMenu.v : modelData)
            }
        }
    }

    FileDialog {
        id: qualityFileDialog
        title: qsTr("Choose a sample text")
        nameFilters: [qsTr("Text (*.txt *.md *.markdown)"), qsTr("All files (*)")]
        onAccepted: kv.startQualityCheckFile(selectedFile)
    }

    FileDialog {
        id: calibrationFileDialog
        title: qsTr("Choose calibration text files")
        fileMode: FileDialog.OpenFiles
        nameFilters: [qsTr("Text (*.txt *.md *.markdown)"), qsTr("All files (*)")]
        onAccepted: profileDialog.files = selectedFiles
    }

    Dialog {
        id: profileDialog
        objectName: "profileDialog"
        title: qsTr("Layer importance profiling")
        modal: true
        parent: Overlay.overlay
        anchors.centerIn: parent
        width: Math.min(parent ? parent.width - 80 : 520, 520)
        standardButtons: Dialog.Ok | Dialog.Cancel
        property var files: []
        property int conversations: 0
        onAboutToShow: conversations = chat.storedConversationTexts().length

        function fileNames() {
            const names = []
            for (const f of files) names.push(String(f).replace(/^.*[\\/]/, ""))
            return names.join(", ")
        }

        onAccepted: {
            if (generatedChoice.checked)
                kv.startProfiling(sequencesBox.value, lengthBox.value)
            else if (filesChoice.checked)
                kv.startProfilingFromFiles(files, lengthBox.value)
            else
                kv.startProfilingFromConversations(chat.storedConversationTexts(), lengthBox.value)
        }

        ColumnLayout {
            anchors.fill: parent
            spacing: 8
            Label {
                text: qsTr("Calibration text: the layers are scored by how much the model's predictions on it depend on each layer's keys and values.")
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            ButtonGroup { id: sourceGroup }
            RadioButton {
                id: generatedChoice
                objectName: "calibrationGenerated"
                text: qsTr("Text the model writes itself")
                checked: true
                ButtonGroup.group: sourceGroup
            }
            RowLayout {
                enabled: generatedChoice.checked
                Layout.leftMargin: 28
                Label { text: qsTr("Sequences") }
                SpinBox { id: sequencesBox; from: 1; to: 64; value: 8; Accessible.name: qsTr("Calibration sequences") }
            }
            RadioButton {
                id: filesChoice
                objectName: "calibrationFiles"
                text: qsTr("Text files")
                ButtonGroup.group: sourceGroup
            }
            RowLayout {
                enabled: filesChoice.checked
                Layout.leftMargin: 28
                Layout.fillWidth: true
                Button { text: qsTr("Choose files…"); onClicked: calibrationFileDialog.open() }
                Label {
                    text: profileDialog.files.length > 0 ? profileDialog.fileNames() : qsTr("none chosen")
                    elide: Text.ElideMiddle
                    Layout.fillWidth: true
                    color: theme.mutedText
                }
            }
            RadioButton {
                id: conversationsChoice
                objectName: "calibrationConversations"
                text: qsTr("Past conversations (%n stored)", "", profileDialog.conversations)
                enabled: profileDialog.conversations > 0
                ButtonGroup.group: sourceGroup
            }
            RowLayout {
                Label { text: qsTr("Tokens per sequence") }
                SpinBox { id: lengthBox; from: 16; to: 1024; stepSize: 16; value: 128; Accessible.name: qsTr("Tokens per calibration sequence") }
            }
        }
    }
}
