import * as overview from '@/features/overview/messages'
import * as servers from '@/features/servers/messages'
import * as groups from '@/features/groups/messages'
import * as packages from '@/features/packages/messages'
import * as deployments from '@/features/deployments/messages'
import * as policies from '@/features/policies/messages'
import * as users from '@/features/users/messages'
import * as audit from '@/features/audit/messages'
import * as account from '@/features/account/messages'

// Terms follow the project glossary: the words Chinese operations teams already use.
export default {
  app: { name: 'Convoy 管理中心' },
  menu: {
    overview: '概览',
    servers: '服务器',
    groups: '服务器组',
    packages: '软件包',
    deployments: '部署任务',
    policies: '同步策略',
    users: '用户',
    audit: '审计日志',
    password: '修改密码',
  },
  common: {
    coming: '“{page}”页面即将推出',
    comingHint: '该功能正在建设中，敬请期待。',
    retry: '重试',
    search: '搜索',
    total: '共 {n} 项',
    networkError: '无法连接管理中心，请检查网络后重试',
    requestFailed: '请求失败：{message}',
  },
  language: { label: '语言', 'zh-CN': '简体中文', en: 'English' },
  role: { admin: '管理员', operator: '运维人员', viewer: '只读用户', agent: '代理', service: '内部服务' },
  user: { logout: '退出登录', loggedOut: '已退出登录' },
  login: {
    title: '登录 Convoy 管理中心',
    username: '用户名',
    password: '密码',
    submit: '登录',
    usernameRequired: '请输入用户名',
    passwordRequired: '请输入密码',
    failed: '用户名或密码错误',
    expired: '登录已过期，请重新登录',
  },
  serverStatus: { pending: '待接入', online: '在线', offline: '离线', revoked: '已吊销', unknown: '未知' },
  category: {
    web: 'Web 应用',
    database: '数据库服务',
    'data-processing': '数据处理',
    container: '容器化',
    general: '通用',
  },
  overview: overview.zhCN,
  servers: servers.zhCN,
  groups: groups.zhCN,
  packages: packages.zhCN,
  deployments: deployments.zhCN,
  policies: policies.zhCN,
  users: users.zhCN,
  audit: audit.zhCN,
  account: account.zhCN,
}
