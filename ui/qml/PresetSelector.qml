import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// KV cache preset picker: each entry shows its memory per token and how many tokens fit
// the memory budget. A change applies from the next message.
ComboBox {
    id: control
    model: kv.presets
    textRole: "label"
    valueRole: "key"
    currentIndex: {
        for (let i = 0; i < kv.presets.length; ++i)
            if (kv.presets[i].key === kv.preset) return i
        return 0
    }
    Accessible.name: qsTr("KV cache preset")
    ToolTip.visible: hovered
    ToolTip.delay: 500
    ToolTip.text: kv.presetNote + (kv.applyNote.length ? "\n" + kv.applyNote : "")
    onActivated: (index) => kv.preset = kv.presets[index].key

    function describe(p) {
        if (!kv.hasModel) return p.label
        let s = qsTr("%1 · %2/token · %3 tokens fit").arg(p.label).arg(theme.formatBytes(p.bytesPerToken)).arg(theme.formatCount(p.tokensFit))
        if (p.key !== "fp16" && p.key !== "custom" && !p.profiled) s += " · " + qsTr("not profiled")
        return s
    }
    displayText: {
        const p = kv.presets[currentIndex]
        return p ? qsTr("KV: %1").arg(p.label) : ""
    }
    delegate: ItemDelegate {
        objectName: "presetChoice-" + modelData.key
        width: Math.max(control.width, 420)
        text: control.describe(modelData)
        highlighted: control.highlightedIndex === index
        Accessible.name: text
    }
    popup.width: Math.max(control.width, 420)
}
