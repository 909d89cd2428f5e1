#include "core/app-settings.h"

#include <QSettings>
#include <algorithm>

AppSettings::AppSettings(QString databasePath, QString version, QObject* parent)
    : QObject(parent), m_databasePath(std::move(databasePath)), m_version(std::move(version)) {
    QSettings s;
    const QString theme = s.value(QStringLiteral("ui/theme"), m_theme).toString();
    if (theme == QLatin1String("light") || theme == QLatin1String("dark") || theme == QLatin1String("system")) m_theme = theme;
    m_fontScale = std::clamp(s.value(QStringLiteral("ui/fontScale"), 1.0).toDouble(), 0.75, 2.0);
}

void AppSettings::setTheme(const QString& theme) {
    if (theme == m_theme || (theme != QLatin1String("light") && theme != QLatin1String("dark") && theme != QLatin1String("system")))
        return;
    m_theme = theme;
    QSettings().setValue(QStringLiteral("ui/theme"), m_theme);
    emit themeChanged();
}

void AppSettings::setFontScale(double scale) {
    scale = std::clamp(scale, 0.75, 2.0);
    if (scale == m_fontScale) return;
    m_fontScale = scale;
    QSettings().setValue(QStringLiteral("ui/fontScale"), m_fontScale);
    emit fontScaleChanged();
}
