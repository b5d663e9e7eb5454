import type { MessageSchema } from '..'

const en: MessageSchema = {
  app: { name: 'Convoy control centre' },
  menu: {
    overview: 'Overview',
    servers: 'Servers',
    groups: 'Groups',
    packages: 'Packages',
    deployments: 'Deployments',
    policies: 'Sync policies',
    users: 'Users',
    audit: 'Audit log',
  },
  common: {
    coming: 'The {page} page is coming',
    comingHint: 'This part of the console is being built.',
    retry: 'Retry',
    search: 'Search',
    total: '{n} in total',
    networkError: 'Cannot reach the control centre; check the network and retry',
    requestFailed: 'The request failed: {message}',
  },
  language: { label: 'Language', 'zh-CN': '简体中文', en: 'English' },
  role: { admin: 'Admin', operator: 'Operator', viewer: 'Viewer', agent: 'Agent', service: 'Service' },
  user: { logout: 'Log out', loggedOut: 'Logged out' },
  login: {
    title: 'Log in to Convoy',
    username: 'Username',
    password: 'Password',
    submit: 'Log in',
    usernameRequired: 'Enter your username',
    passwordRequired: 'Enter your password',
    failed: 'Wrong username or password',
    expired: 'Your session has expired; log in again',
  },
  servers: {
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
  },
  serverStatus: { pending: 'Pending', online: 'Online', offline: 'Offline', revoked: 'Revoked', unknown: 'Unknown' },
  category: {
    web: 'Web',
    database: 'Database',
    'data-processing': 'Data processing',
    container: 'Container',
    general: 'General',
  },
}

export default en
