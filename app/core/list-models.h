// The list models the QML views show: conversations (sidebar) and the messages of the
// active branch. GUI thread only; changed by ChatController.
#pragma once

#include <QAbstractListModel>
#include <QList>

#include "core/conversation-store.h"

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(int count READ count NOTIFY countChanged)
public:
    enum Roles { IdRole = Qt::UserRole + 1, TitleRole, UpdatedRole, PinnedRole, SnippetRole };
    struct Row {
        qint64 id = 0;
        QString title;
        QDateTime updated;
        bool pinned = false;
        QString snippet;  // search hit text (empty when not searching)
    };

    using QAbstractListModel::QAbstractListModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;
    int count() const { return static_cast<int>(m_rows.size()); }

    void setRows(QList<Row> rows);
    const QList<Row>& rows() const { return m_rows; }
    Q_INVOKABLE int indexOf(qint64 conversationId) const;

signals:
    void countChanged();

private:
    QList<Row> m_rows;
};

class MessageListModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(int count READ count NOTIFY countChanged)
public:
    enum Roles {
        IdRole = Qt::UserRole + 1,
        RoleRole,      // "user", "assistant", "system"
        ContentRole,
        StateRole,     // "complete", "streaming", "stopped", "interrupted", "error"
        SiblingIndexRole,
        SiblingCountRole,
        TokensRole,
        TtftRole,      // seconds, 0 when unknown
        TpsRole,
        ErrorRole,
    };
    struct Row {
        ConversationStore::Message message;
        int siblingIndex = 0;
        int siblingCount = 1;
    };

    using QAbstractListModel::QAbstractListModel;
    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;
    int count() const { return static_cast<int>(m_rows.size()); }

    void setRows(QList<Row> rows);
    const QList<Row>& rows() const { return m_rows; }
    int rowOf(qint64 messageId) const;
    // Streaming: replaces the text of one row (one dataChanged).
    void setContent(qint64 messageId, const QString& content);
    void appendRow(const Row& row);

signals:
    void countChanged();

private:
    QList<Row> m_rows;
};
