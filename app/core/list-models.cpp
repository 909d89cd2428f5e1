#include "core/list-models.h"

int ConversationListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : count(); }

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= count()) return {};
    const Row& r = m_rows[index.row()];
    switch (role) {
        case IdRole: return r.id;
        case Qt::DisplayRole:
        case TitleRole: return r.title;
        case UpdatedRole: return r.updated;
        case PinnedRole: return r.pinned;
        case SnippetRole: return r.snippet;
        default: return {};
    }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    return {{IdRole, "conversationId"}, {TitleRole, "title"}, {UpdatedRole, "updated"}, {PinnedRole, "pinned"}, {SnippetRole, "snippet"}};
}

void ConversationListModel::setRows(QList<Row> rows) {
    const bool countChanges = rows.size() != m_rows.size();
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
    if (countChanges) emit countChanged();
}

int ConversationListModel::indexOf(qint64 conversationId) const {
    for (int i = 0; i < count(); ++i)
        if (m_rows[i].id == conversationId) return i;
    return -1;
}

int MessageListModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : count(); }

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= count()) return {};
    const Row& r = m_rows[index.row()];
    const ConversationStore::Message& m = r.message;
    switch (role) {
        case IdRole: return m.id;
        case RoleRole: return ConversationStore::roleName(m.role);
        case Qt::DisplayRole:
        case ContentRole: return m.content;
        case StateRole: return ConversationStore::stateName(m.state);
        case SiblingIndexRole: return r.siblingIndex;
        case SiblingCountRole: return r.siblingCount;
        case TokensRole: return m.tokens;
        case TtftRole: return m.stats.value(QStringLiteral("ttft_s")).toDouble();
        case TpsRole: return m.stats.value(QStringLiteral("tps")).toDouble();
        case ErrorRole: return m.stats.value(QStringLiteral("error")).toString();
        default: return {};
    }
}

QHash<int, QByteArray> MessageListModel::roleNames() const {
    return {{IdRole, "messageId"},         {RoleRole, "role"},         {ContentRole, "content"},
            {StateRole, "messageState"},          {SiblingIndexRole, "siblingIndex"}, {SiblingCountRole, "siblingCount"},
            {TokensRole, "tokens"},        {TtftRole, "ttft"},         {TpsRole, "tps"},
            {ErrorRole, "error"}};
}

void MessageListModel::setRows(QList<Row> rows) {
    const bool countChanges = rows.size() != m_rows.size();
    beginResetModel();
    m_rows = std::move(rows);
    endResetModel();
    if (countChanges) emit countChanged();
}

int MessageListModel::rowOf(qint64 messageId) const {
    for (int i = 0; i < count(); ++i)
        if (m_rows[i].message.id == messageId) return i;
    return -1;
}

void MessageListModel::setContent(qint64 messageId, const QString& content) {
    const int row = rowOf(messageId);
    if (row < 0) return;
    m_rows[row].message.content = content;
    const QModelIndex i = index(row);
    emit dataChanged(i, i, {ContentRole});
}

void MessageListModel::appendRow(const Row& row) {
    beginInsertRows({}, count(), count());
    m_rows.append(row);
    endInsertRows();
    emit countChanged();
}
