import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Live memory: model weights, the KV cache's true bytes against what fp16 would use, the
// saving ratio, tokens in context and tokens that still fit, and a chart over the
// conversation's length (KV bytes as the conversation grew, fp16 dashed for reference).
Rectangle {
    id: root
    color: theme.panel
    Rectangle { width: 1; height: parent.height; color: theme.border }
    readonly property var mem: kv.memory

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 12
        spacing: 10

        Label { text: qsTr("Memory"); font.bold: true; font.pixelSize: theme.largeFont }

        GridLayout {
            columns: 2
            columnSpacing: 12
            rowSpacing: 4
            Layout.fillWidth: true
            Label { text: qsTr("Model weights"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label { objectName: "weightsValue"; text: theme.formatBytes(root.mem.weightsBytes); Layout.alignment: Qt.AlignRight }
            Label { text: qsTr("KV cache (KVmix)"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label { objectName: "kvValue"; text: theme.formatBytes(root.mem.kvBytes); font.bold: true; Layout.alignment: Qt.AlignRight }
            Label { text: qsTr("Same cache in fp16"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label { text: theme.formatBytes(root.mem.kvFp16Bytes); Layout.alignment: Qt.AlignRight }
            Label { text: qsTr("Saving"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label {
                objectName: "ratioValue"
                text: root.mem.kvBytes > 0 ? qsTr("%1× smaller").arg(root.mem.ratio.toFixed(2)) : "–"
                color: theme.accent
                font.bold: true
                Layout.alignment: Qt.AlignRight
            }
            Label { text: qsTr("Tokens in context"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            // No cache (no chat yet, or one not in memory) has no context size either: a dash, not "0 / 0".
            Label {
                objectName: "tokensValue"
                text: root.mem.capacity > 0 ? qsTr("%1 / %2").arg(theme.formatCount(root.mem.tokens)).arg(theme.formatCount(root.mem.capacity)) : "–"
                Layout.alignment: Qt.AlignRight
            }
            Label { text: qsTr("Still fit in context"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label { text: root.mem.capacity > 0 ? theme.formatCount(root.mem.contextLeft) : "–"; Layout.alignment: Qt.AlignRight }
            Label { text: qsTr("KV budget"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            Label { text: theme.formatBytes(root.mem.budgetBytes); Layout.alignment: Qt.AlignRight }
            Label { text: qsTr("Still fit in budget"); color: theme.mutedText; Layout.fillWidth: true; elide: Text.ElideRight }
            // Without a model there is no per-token size to divide the budget by.
            Label { objectName: "budgetLeftValue"; text: root.mem.weightsBytes > 0 ? theme.formatCount(root.mem.budgetLeft) : "–"; Layout.alignment: Qt.AlignRight }
        }

        // A chat opened from the list has no cache until its next message re-reads it: say so,
        // rather than let the zeros read as "this chat costs nothing".
        Label {
            objectName: "notLoadedNote"
            Layout.fillWidth: true
            visible: chat.messages.count > 0 && root.mem.tokens === 0 && !chat.busy
            wrapMode: Text.Wrap
            color: theme.mutedText
            font.pixelSize: theme.smallFont
            text: qsTr("This chat's cache is not in memory yet: your next message rebuilds it from the conversation, at the KV preset shown in the top bar.")
        }

        Label { text: qsTr("KV cache over the conversation"); color: theme.mutedText; font.pixelSize: theme.smallFont }
        Canvas {
            id: chart
            objectName: "memoryChart"
            Layout.fillWidth: true
            Layout.preferredHeight: 180
            Accessible.name: qsTr("Chart of KV cache bytes by tokens in context")
            property var points: kv.history
            onPointsChanged: requestPaint()
            property bool dark: theme.dark
            onDarkChanged: requestPaint()
            onPaint: {
                const ctx = getContext("2d")
                ctx.reset()
                const w = width, h = height, pad = 28
                ctx.strokeStyle = theme.border
                ctx.lineWidth = 1
                ctx.beginPath(); ctx.moveTo(pad, 4); ctx.lineTo(pad, h - pad); ctx.lineTo(w - 4, h - pad); ctx.stroke()
                ctx.fillStyle = theme.mutedText
                ctx.font = Math.round(theme.smallFont * 0.9) + "px sans-serif"
                const pts = points || []
                if (pts.length === 0) {
                    ctx.fillText(qsTr("no data yet"), pad + 8, h / 2)
                    return
                }
                let maxT = 1, maxB = 1
                for (const p of pts) { maxT = Math.max(maxT, p.tokens); maxB = Math.max(maxB, p.fp16Bytes, p.bytes) }
                const X = (t) => pad + (w - pad - 8) * t / maxT
                const Y = (b) => (h - pad) - (h - pad - 8) * b / maxB
                function line(key, color, dash) {
                    ctx.strokeStyle = color
                    ctx.lineWidth = 2
                    ctx.setLineDash(dash)
                    ctx.beginPath()
                    ctx.moveTo(X(0), Y(0))
                    for (const p of pts) ctx.lineTo(X(p.tokens), Y(p[key]))
                    ctx.stroke()
                }
                line("fp16Bytes", theme.chartFp16, [4, 4])
                line("bytes", theme.chartKv, [])
                ctx.setLineDash([])
                ctx.fillStyle = theme.mutedText
                ctx.fillText(theme.formatBytes(maxB), 2, 12)
                ctx.fillText(theme.formatCount(maxT) + " " + qsTr("tokens"), w - 90, h - 8)
            }
        }
        RowLayout {
            spacing: 12
            Rectangle { Layout.preferredWidth: 14; Layout.preferredHeight: 3; color: theme.chartKv }
            Label { text: qsTr("KVmix"); font.pixelSize: theme.smallFont }
            Rectangle { Layout.preferredWidth: 14; Layout.preferredHeight: 3; color: theme.chartFp16 }
            Label { text: qsTr("fp16"); font.pixelSize: theme.smallFont }
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            color: theme.mutedText
            font.pixelSize: theme.smallFont
            text: kv.presetNote
        }
        Item { Layout.fillHeight: true }
    }
}
