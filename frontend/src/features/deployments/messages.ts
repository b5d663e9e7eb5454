/** What the deployments pages say, in every language of the console (en must have the same keys). */
export const zhCN = {}

export const en: typeof zhCN = {}
