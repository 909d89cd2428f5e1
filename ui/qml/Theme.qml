import QtQuick

// Colours and sizes of the app; Main.qml owns one instance ("theme").
QtObject {
    id: root
    property bool dark: false
    property real fontScale: 1.0

    readonly property color window: dark ? "#1e1f22" : "#f7f7f8"
    readonly property color panel: dark ? "#26282c" : "#ffffff"
    readonly property color sidebar: dark ? "#18191c" : "#eef0f3"
    readonly property color border: dark ? "#3a3d42" : "#d9dce1"
    readonly property color text: dark ? "#e8e9eb" : "#1d1f23"
    readonly property color mutedText: dark ? "#a0a4ab" : "#5f6570"
    readonly property color accent: dark ? "#6ea8ff" : "#2563eb"
    readonly property color accentText: "#ffffff"
    readonly property color userBubble: dark ? "#2f3b52" : "#e3ecff"
    readonly property color assistantBubble: dark ? "#26282c" : "#ffffff"
    readonly property color warning: dark ? "#5a4a1a" : "#fff4d6"
    readonly property color warningText: dark ? "#ffe3a0" : "#6b4e00"
    readonly property color error: dark ? "#5a2323" : "#fde2e2"
    readonly property color errorText: dark ? "#ffc4c4" : "#8a1c1c"
    readonly property color selection: dark ? "#33415c" : "#dbe5fb"
    readonly property color chartFp16: dark ? "#8a8f98" : "#9aa1ab"
    readonly property color chartKv: accent

    readonly property real baseFont: 14 * fontScale
    readonly property real smallFont: 12 * fontScale
    readonly property real largeFont: 17 * fontScale
    readonly property int spacing: 8
    readonly property int radius: 8

    // Heatmap colour for a bit width: 16 (fp16) neutral, fewer bits warmer.
    function bitsColor(bits) {
        if (bits >= 16) return dark ? "#4b5563" : "#cbd5e1";
        if (bits >= 8) return "#60a5fa";
        if (bits >= 4) return "#34d399";
        if (bits >= 3) return "#fbbf24";
        return "#f87171";
    }
    function formatBytes(b) {
        if (b === undefined || b === null || isNaN(b)) return "–";
        if (b < 1024) return Math.round(b) + " B";
        if (b < 1024 * 1024) return (b / 1024).toFixed(1) + " KiB";
        if (b < 1024 * 1024 * 1024) return (b / 1024 / 1024).toFixed(1) + " MiB";
        return (b / 1024 / 1024 / 1024).toFixed(2) + " GiB";
    }
    function formatCount(n) {
        if (n === undefined || n === null || isNaN(n)) return "–";
        return Number(n).toLocaleString(Qt.locale(), 'f', 0);
    }
}
