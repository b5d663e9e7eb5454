import type { MessageSchema } from '..'
import * as overview from '@/features/overview/messages'
import * as servers from '@/features/servers/messages'
import * as groups from '@/features/groups/messages'
import * as packages from '@/features/packages/messages'
import * as deployments from '@/features/deployments/messages'
import * as policies from '@/features/policies/messages'
import * as users from '@/features/users/messages'
import * as audit from '@/features/audit/messages'
import * as account from '@/features/account/messages'

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
    password: 'Change password',
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
  serverStatus: { pending: 'Pending', online: 'Online', offline: 'Offline', revoked: 'Revoked', unknown: 'Unknown' },
  category: {
    web: 'Web',
    database: 'Database',
    'data-processing': 'Data processing',
    container: 'Container',
    general: 'General',
  },
  overview: overview.en,
  servers: servers.en,
  groups: groups.en,
  packages: packages.en,
  deployments: deployments.en,
  policies: policies.en,
  users: users.en,
  audit: audit.en,
  account: account.en,
}

export default en
