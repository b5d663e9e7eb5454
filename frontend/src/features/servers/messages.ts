/** What the servers pages say, in every language of the console (en must have the same keys). */
export const zhCN = {
    searchPlaceholder: '按主机名或 IP 地址搜索',
    hostname: '主机名',
    ipAddress: 'IP 地址',
    category: '类别',
    os: '操作系统',
    status: '状态',
    agentVersion: 'Agent 版本',
    lastSeen: '最后在线',
    empty: '还没有服务器：添加服务器或在节点上运行接入命令后，它们会出现在这里',
    noMatch: '没有符合条件的服务器',
  }

export const en: typeof zhCN = {
    searchPlaceholder: 'Search by hostname or IP address',
    hostname: 'Hostname',
    ipAddress: 'IP address',
    category: 'Category',
    os: 'Operating system',
    status: 'Status',
    agentVersion: 'Agent version',
    lastSeen: 'Last seen',
    empty: 'No servers yet: add a server or run the join command on a node and it appears here',
    noMatch: 'No server matches the search',
  }
