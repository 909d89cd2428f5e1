import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Settings: appearance, the system prompt and sampling of the current chat (defaults for
// new chats), the KV memory budget, and where the chats are stored.
Dialog {
    id: root
    title: qsTr("Settings")
    modal: true
    parent: Overlay.overlay
    anchors.centerIn: parent
    width: Math.min(parent ? parent.width - 80 : 640, 640)
    height: Math.min(parent ? parent.height - 80 : 720, 720)
    standardButtons: Dialog.Close

    function setSampling(key, value) { const m = {}; m[key] = value; chat.sampling = m }

    ScrollView {
        anchors.fill: parent
        contentWidth: availableWidth
        ColumnLayout {
            width: parent.width
            spacing: 12

            Label { text: qsTr("Appearance"); font.bold: true }
            RowLayout {
                Label { text: qsTr("Theme") }
                ComboBox {
                    objectName: "themeCombo"
                    model: [qsTr("System"), qsTr("Light"), qsTr("Dark")]
                    readonly property var keys: ["system", "light", "dark"]
                    currentIndex: keys.indexOf(settings.theme)
                    Accessible.name: qsTr("Theme")
                    onActivated: (i) => settings.theme = keys[i]
                }
                Label { text: qsTr("Text size") }
                SpinBox {
                    from: 75; to: 200; stepSize: 5
                    value: Math.round(settings.fontScale * 100)
                    textFromValue: (v) => v + " %"
                    valueFromText: (t) => parseInt(t)
                    Accessible.name: qsTr("Text size in percent")
                    onValueModified: settings.fontScale = value / 100
                }
            }

            Label { text: qsTr("System prompt (this chat and new chats)"); font.bold: true }
            TextArea {
                Layout.fillWidth: true
                Layout.preferredHeight: 80
                wrapMode: TextEdit.Wrap
                text: chat.systemPrompt
                placeholderText: qsTr("e.g. You are a concise assistant.")
                Accessible.name: qsTr("System prompt")
                onEditingFinished: chat.systemPrompt = text
            }

            Label { text: qsTr("Sampling"); font.bold: true }
            GridLayout {
                columns: 4
                columnSpacing: 10
                Label { text: qsTr("Temperature") }
                SpinBox {
                    from: 0; to: 200; stepSize: 5; editable: true
                    value: Math.round(chat.sampling.temperature * 100)
                    textFromValue: (v) => (v / 100).toFixed(2)
                    valueFromText: (t) => Math.round(parseFloat(t) * 100)
                    Accessible.name: qsTr("Temperature")
                    onValueModified: root.setSampling("temperature", value / 100)
                }
                Label { text: qsTr("Top-k") }
                SpinBox { from: 0; to: 500; editable: true; value: chat.sampling.top_k; Accessible.name: qsTr("Top-k"); onValueModified: root.setSampling("top_k", value) }
                Label { text: qsTr("Top-p") }
                SpinBox {
                    from: 0; to: 100; editable: true
                    value: Math.round(chat.sampling.top_p * 100)
                    textFromValue: (v) => (v / 100).toFixed(2)
                    valueFromText: (t) => Math.round(parseFloat(t) * 100)
                    Accessible.name: qsTr("Top-p")
                    onValueModified: root.setSampling("top_p", value / 100)
                }
                Label { text: qsTr("Min-p") }
                SpinBox {
                    from: 0; to: 100; editable: true
                    value: Math.round(chat.sampling.min_p * 100)
                    textFromValue: (v) => (v / 100).toFixed(2)
                    valueFromText: (t) => Math.round(parseFloat(t) * 100)
                    Accessible.name: qsTr("Min-p")
                    onValueModified: root.setSampling("min_p", value / 100)
                }
                Label { text: qsTr("Repeat penalty") }
                SpinBox {
                    from: 100; to: 200; editable: true
                    value: Math.round(chat.sampling.repeat_penalty * 100)
                    textFromValue: (v) => (v / 100).toFixed(2)
                    valueFromText: (t) => Math.round(parseFloat(t) * 100)
                    Accessible.name: qsTr("Repeat penalty")
                    onValueModified: root.setSampling("repeat_penalty", value / 100)
                }
                Label { text: qsTr("Seed (−1 random)") }
                SpinBox { from: -1; to: 2147483647; editable: true; value: chat.sampling.seed; Accessible.name: qsTr("Seed"); onValueModified: root.setSampling("seed", value) }
                Label { text: qsTr("Max tokens") }
                SpinBox { from: 1; to: 32768; editable: true; value: chat.sampling.max_tokens; Accessible.name: qsTr("Maximum tokens per answer"); onValueModified: root.setSampling("max_tokens", value) }
                Label { text: qsTr("Context length") }
                SpinBox { from: 256; to: 131072; stepSize: 256; editable: true; value: chat.sampling.context_length; Accessible.name: qsTr("Context length in tokens"); onValueModified: root.setSampling("context_length", value) }
                Label { text: qsTr("When the context is full") }
                ComboBox {
                    Layout.columnSpan: 3
                    model: [qsTr("Drop the oldest turns (keep the system prompt)"), qsTr("Rolling window"), qsTr("Stop with an error")]
                    readonly property var keys: ["truncate", "rolling", "error"]
                    currentIndex: Math.max(0, keys.indexOf(chat.sampling.context_policy))
                    Accessible.name: qsTr("Context policy")
                    onActivated: (i) => root.setSampling("context_policy", keys[i])
                }
            }

            Label { text: qsTr("KV cache"); font.bold: true }
            RowLayout {
                Label { text: qsTr("Memory budget for the KV cache (MiB)") }
                SpinBox {
                    from: 16; to: 65536; stepSize: 64; editable: true
                    value: Math.round(kv.budgetMiB)
                    Accessible.name: qsTr("KV cache memory budget in MiB")
                    onValueModified: kv.budgetMiB = value
                }
            }
            PresetSelector { Layout.fillWidth: true }
            Label { text: kv.presetNote; wrapMode: Text.Wrap; Layout.fillWidth: true; color: theme.mutedText }

            Label { text: qsTr("Storage"); font.bold: true }
            Label { text: qsTr("Chats are stored in %1").arg(settings.databasePath); wrapMode: Text.Wrap; Layout.fillWidth: true; color: theme.mutedText }
            Label { text: qsTr("KVmix Chat %1").arg(settings.version); color: theme.mutedText }
        }
    }
}
