/** What the account pages say, in every language of the console (en must have the same keys). */
export const zhCN = {
  intro: '修改后，你在其他浏览器和设备上的登录会全部退出，当前页面保持登录。',
  current: '当前密码',
  next: '新密码',
  repeat: '确认新密码',
  save: '修改密码',
  rules: '密码长度为 {min}–{max} 个字符，且不能与用户名相同。',
  currentRequired: '请输入当前密码',
  nextRequired: '请输入新密码',
  repeatRequired: '请再次输入新密码',
  problem: {
    length: '密码长度须为 {min}–{max} 个字符',
    sameAsUsername: '密码不能与用户名相同',
    sameAsCurrent: '新密码不能与当前密码相同',
    mismatch: '两次输入的新密码不一致',
  },
  changed: '密码已修改，其他浏览器和设备上的登录已退出',
  loginAgain: '密码已修改，请使用新密码重新登录',
}

export const en: typeof zhCN = {
  intro: 'Once changed, you are logged out in every other browser and device; this page stays logged in.',
  current: 'Current password',
  next: 'New password',
  repeat: 'Repeat new password',
  save: 'Change password',
  rules: 'Passwords are {min} to {max} characters long and must differ from the username.',
  currentRequired: 'Enter your current password',
  nextRequired: 'Enter a new password',
  repeatRequired: 'Enter the new password again',
  problem: {
    length: 'A password must be {min} to {max} characters long',
    sameAsUsername: 'The password must differ from the username',
    sameAsCurrent: 'The new password must differ from the current one',
    mismatch: 'The two new passwords do not match',
  },
  changed: 'Password changed; you were logged out in every other browser and device',
  loginAgain: 'Password changed; log in with the new password',
}
