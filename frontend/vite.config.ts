import { fileURLToPath, URL } from 'node:url'

import vue from '@vitejs/plugin-vue'
import AutoImport from 'unplugin-auto-import/vite'
import { ElementPlusResolver } from 'unplugin-vue-components/resolvers'
import Components from 'unplugin-vue-components/vite'
import { defineConfig } from 'vitest/config'

// The gateway the dev server forwards API calls to (`make up` serves it here by default).
const gateway = process.env.CONVOY_GATEWAY_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [
    vue(),
    // Element Plus components and their styles are imported where a template uses them, so the
    // bundle carries only what the console shows. Vue and Pinia APIs stay explicitly imported.
    AutoImport({ resolvers: [ElementPlusResolver()], dts: 'src/auto-imports.d.ts' }),
    Components({ resolvers: [ElementPlusResolver()], dts: 'src/components.d.ts' }),
  ],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  server: {
    proxy: { '/api': { target: gateway, changeOrigin: true } },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    css: false,
    // Element Plus pulls its CSS in from its ES modules: Vite, not Node, has to load those.
    server: { deps: { inline: ['element-plus'] } },
    // jsdom lays nothing out, so forms with label-width="auto" measure NaN and Element Plus says so.
    onConsoleLog: (log) => !log.includes('[ElForm] unexpected width'),
  },
})
