// AppSettings: the look of the app (theme, font scale), persisted with QSettings.
// GUI thread only.
#pragma once

#include <QObject>

class AppSettings : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString theme READ theme WRITE setTheme NOTIFY themeChanged)  // "system", "light", "dark"
    Q_PROPERTY(double fontScale READ fontScale WRITE setFontScale NOTIFY fontScaleChanged)
    Q_PROPERTY(QString databasePath READ databasePath CONSTANT)
    Q_PROPERTY(QString version READ version CONSTANT)
public:
    explicit AppSettings(QString databasePath = {}, QString version = {}, QObject* parent = nullptr);
    QString theme() const { return m_theme; }
    void setTheme(const QString& theme);
    double fontScale() const { return m_fontScale; }
    void setFontScale(double scale);
    QString databasePath() const { return m_databasePath; }
    QString version() const { return m_version; }

signals:
    void themeChanged();
    void fontScaleChanged();

private:
    QString m_theme = QStringLiteral("system");
    double m_fontScale = 1.0;
    QString m_databasePath;
    QString m_version;
};
